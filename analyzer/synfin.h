/*
 * synfin.h: the analyzer library (analyzer/): command line and run loop over
 * capture/ (the inputs) and report/ (the outputs).
 * main.c is only a call to synfin_main, so tests can drive the whole program.
 */
#ifndef SYNFIN_H
#define SYNFIN_H

#include "flows.h"

/* Runs synfin with a command line; returns the exit code (see --help). */
int synfin_main(int argc, char **argv);

#endif
