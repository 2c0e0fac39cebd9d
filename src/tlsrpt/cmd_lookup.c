/*
 * cmd_lookup.c - `tlsrpt lookup DOMAIN`: asks DNS for the domain's TLSRPT
 * record the way the daemon will, and shows every TXT record, which one was
 * used and why the others were not, and the rua destinations it gives.
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dns.h"

#define TLSRPT_PREFIX "v=TLSRPTv1;"

/* Records are untrusted: control bytes are shown escaped, never sent to the terminal. */
static void print_quoted(const char *text, size_t len)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)text;
         p < (const unsigned char *)text + len; p++) {
        if (*p < 0x20 || *p >= 0x7f)
            printf("\\x%02X", *p);
        else if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void print_answer(const struct dns_tlsrpt_answer *answer)
{
    const struct dns_tlsrpt_record *record = &answer->record;

    printf("query:  %s\n", answer->qname);
    printf("status: %s (%s)\n", dns_status_name(answer->status), answer->detail);
    for (size_t i = 0; i < answer->n_txt; i++) {
        const char *txt = answer->txt[i];
        bool used = answer->status == DNS_FOUND && strcmp(txt, record->text) == 0;
        printf("txt:    %s ", used ? "used" : "ignored");
        print_quoted(txt, answer->txt_len[i]);
        if (used)
            putchar('\n');
        else if (strncmp(txt, TLSRPT_PREFIX, strlen(TLSRPT_PREFIX)) != 0)
            printf(": does not begin with \"%s\"\n", TLSRPT_PREFIX);
        else
            printf(": %s\n", answer->detail);
    }
    for (size_t i = 0; i < record->n_rua; i++)
        printf("rua:    %s %s\n", record->rua[i].scheme == DNS_RUA_MAILTO ? "mailto" : "https",
               record->rua[i].uri);
    for (size_t i = 0; i < record->n_notes; i++)
        printf("note:   %s\n", record->notes[i]);
}

int cmd_lookup(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        {"server", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    const char *server = NULL;
    int ch;

    while ((ch = getopt_long(argc, argv, "s:", options, NULL)) != -1) {
        switch (ch) {
        case 's':
            server = optarg;
            break;
        default:
            return cli_usage_error(cli);
        }
    }
    if (optind != argc - 1) {
        return cli_usage_error(cli);
    }
    struct cfg *cfg = cli_config(cli);
    const char *one_server[] = {server, NULL};
    const char *const *servers = server ? one_server : cfg_list(cfg, "dns_resolvers");
    char *error;
    struct dns_resolver *resolver =
        dns_resolver_create(servers, (int)cfg_time(cfg, "dns_timeout") * 1000, &error);
    if (resolver == NULL) {
        msg_error("%s", error);
        free(error);
        return 2;
    }
    /* ldns falls back to TCP for long answers and writes without MSG_NOSIGNAL. */
    signal(SIGPIPE, SIG_IGN);

    struct dns_tlsrpt_answer answer;
    dns_lookup_tlsrpt(resolver, argv[optind], (size_t)cfg_int(cfg, "max_rua_per_record"), &answer);
    print_answer(&answer);
    int status = answer.status == DNS_FOUND ? 0 : answer.status == DNS_NONE ? 1 : 2;
    dns_tlsrpt_answer_free(&answer);
    dns_resolver_destroy(resolver);
    return status;
}

const struct cli_command cli_command_lookup = {
    .name = "lookup",
    .run = cmd_lookup,
    .usage = "lookup [--server HOST[:PORT]] DOMAIN",
    .summary = "show the TLSRPT record and rua of a domain",
};
