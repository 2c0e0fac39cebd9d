/* common.c: being written. */
