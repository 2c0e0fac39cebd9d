/* sendmail.c: being written. */
