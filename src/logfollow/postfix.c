/* postfix.c: being written. */
