#include "synfin.h"
int main(int argc, char **argv)
{
    return synfin_main(argc, argv);
}
