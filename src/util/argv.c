/*
 * argv.c - command lines from configuration values, split as Postfix splits
 * them: no shell, no quoting rules beyond Postfix's "{ grouped words }".
 */
#include "config.h"

#include <string.h>

#include "util.h"

int argv_split(char *text, char **argv, int max, const char **error_r)
{
    int n = 0;

    for (char *p = text;;) {
        p += strspn(p, " \t\r\n");
        if (*p == '\0')
            break;
        if (n == max - 1) {
            *error_r = "too many arguments";
            return -1;
        }
        char *end;
        if (*p == '{') {
            end = strchr(p, '}');
            if (end == NULL) {
                *error_r = "a \"{\" without its \"}\"";
                return -1;
            }
            p++;
            p += strspn(p, " \t");
            char *last = end;
            while (last > p && (last[-1] == ' ' || last[-1] == '\t'))
                last--;
            *last = '\0';
            argv[n++] = p;
            p = end + 1;
            continue;
        }
        end = p + strcspn(p, " \t\r\n");
        argv[n++] = p;
        if (*end == '\0')
            break;
        *end = '\0';
        p = end + 1;
    }
    argv[n] = NULL;
    if (n == 0) {
        *error_r = "no command";
        return -1;
    }
    return n;
}
