#ifndef SYNFIN_H
#define SYNFIN_H
#include "flows.h"
int synfin_main(int argc, char **argv);
#endif
