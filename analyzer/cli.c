#include "synfin.h"
int synfin_main(int argc, char **argv) { (void)argc; (void)argv; return 0; }
