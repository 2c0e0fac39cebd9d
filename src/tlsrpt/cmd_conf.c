/* cmd_conf.c: placeholder, being written. */
