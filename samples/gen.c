int gen_placeholder(void); int gen_placeholder(void) { return 0; }
