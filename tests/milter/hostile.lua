-- hostile.lua - input meant to hurt: long header values, 1200 headers of
-- 900 bytes to a bounce address (over milter_max_message_size before the
-- body), an over-long sender, empty recipients, an aborted message; the
-- filter answers every step and leaves the mail alone. (miltertest itself
-- overflows its stack on a header over about 1 KB: longer ones need an MTA.)
dofile(DIR .. "/common.lua")
run("long-headers", {from = "<user@sender.example>", rcpts = {"<a@x.example>"},
    headers = {{"Content-Type", "multipart/report; report-type=" .. string.rep("a", 850)},
               {"TLS-Report-Domain", string.rep("b", 900)}}})
local many = {}
for i = 1, 1200 do many[i] = {"X-Header-" .. i, string.rep("v", 900)} end
run("1200-headers", {from = "<>",
    rcpts = {"<tlsrpt+7777777777777777-8888888888888888@sender.example>"}, headers = many})
run("long-sender", {from = "<" .. string.rep("l", 400) .. "@sender.example>",
    rcpts = {"<" .. string.rep("r", 400) .. "@x.example>", "<>", "<nodomain>", "<a@>"}})
-- An aborted message, then a report on the same connection: nothing carries over.
local conn = open()
mt.macro(conn, SMFIC_MAIL, "i", "4ABC123DF5")
check(mt.mailfrom(conn, "<tlsrpt@sender.example>") == nil, "mailfrom")
expect_continue(conn, "MAIL FROM")
check(mt.abort(conn) == nil, "abort")
send(conn, {from = "<user@sender.example>", rcpts = {"<a@x.example>"}})
mt.echo("after-abort: " .. outcome(conn))
mt.disconnect(conn)
