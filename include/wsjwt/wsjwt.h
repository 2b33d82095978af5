/* wsjwt: JWT-authenticated WebSockets. The umbrella header. */
#ifndef WSJWT_H
#define WSJWT_H

#include "error.h"
#include "jwt.h"
#include "client.h"
#include "server.h"

#define WSJWT_VERSION_MAJOR 0
#define WSJWT_VERSION_MINOR 1
#define WSJWT_VERSION_PATCH 0

#endif
