#include "flows.h"
