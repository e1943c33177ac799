#ifndef SYNFIN_FLOWS_H
#define SYNFIN_FLOWS_H
#include "dissect.h"
#endif
