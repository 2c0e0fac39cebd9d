-- loop_guard.lua - report mail gets TLS-Required: No (RFC 8689) and its
-- queue id goes to tlsrptd; other mail is left alone.
dofile(DIR .. "/common.lua")
run("own", {from = "<tlsrpt@sender.example>", rcpts = {"<tlsrpt@rua.example>"}, qid = "4ABC123DEF",
    headers = {{"Subject", "Report Domain: rua.example"}}})
run("own-verp", {from = "<tlsrpt+0123456789abcdef-fedcba9876543210@Sender.Example>", rcpts = {"<r@rua.example>"},
    qid = "4ABC123DF0"})
run("third-party", {from = "<reports@other.example>", rcpts = {"<tlsrpt@rua.example>"},
    qid = "4ABC123DF1",
    headers = {{"TLS-Report-Domain", "other.example"}, {"Content-Type", REPORT_TYPE}}})
run("third-party-unquoted", {from = "<reports@other.example>", rcpts = {"<tlsrpt@rua.example>"},
    qid = "4ABC123DF2", headers = {{"TLS-Report-Domain", "other.example"},
    {"Content-Type", "Multipart/Report; boundary=x;\r\n\treport-type = TLSRPT"}}})
run("already-marked", {from = "<tlsrpt@sender.example>", rcpts = {"<tlsrpt@rua.example>"},
    qid = "4ABC123DF3", headers = {{"TLS-Required", "No"}}})
run("dsn-type", {from = "<reports@other.example>", rcpts = {"<a@rua.example>"},
    headers = {{"TLS-Report-Domain", "other.example"},
    {"Content-Type", 'multipart/report; report-type="delivery-status"'}}})
run("no-report-domain", {from = "<reports@other.example>", rcpts = {"<a@rua.example>"},
    headers = {{"Content-Type", REPORT_TYPE}}})
run("sender-lookalike", {from = "<tlsrptx@sender.example>", rcpts = {"<a@rua.example>"}})
run("no-queue-id", {from = "<tlsrpt@sender.example>", rcpts = {"<tlsrpt@rua.example>"}})
