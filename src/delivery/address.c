/* address.c: being written. */
