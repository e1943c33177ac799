#include "synfin.h"
