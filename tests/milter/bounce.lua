-- bounce.lua - bounces to a VERP address of ours: a DSN that matches
-- nothing, broken MIME, 1000 recipients and one over
-- milter_max_message_size are all passed on untouched.
dofile(DIR .. "/common.lua")
local dsn_headers = {{"From", "MAILER-DAEMON@relay.example"},
    {"Content-Type", 'multipart/report; report-type=delivery-status; boundary="B"'}}
local function dsn_body(recipients)
    local parts = {"--B\r\nContent-Type: text/plain\r\n\r\nNot delivered.\r\n",
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; relay.example\r\n"}
    for i = 1, recipients do
        parts[#parts + 1] = "\r\nFinal-Recipient: rfc822; r" .. i .. "@rua.example\r\n" ..
            "Action: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user\r\n"
    end
    parts[#parts + 1] = "--B--\r\n"
    return table.concat(parts)
end
run("unknown-tag", {from = "<>", rcpts = {"<tlsrpt+0000000000000000-0000000000000000@sender.example>"},
    headers = dsn_headers, body = dsn_body(1)})
run("broken-mime", {from = "<>", rcpts = {"<tlsrpt+1111111111111111-2222222222222222@sender.example>"},
    headers = {{"Content-Type", "multipart/report; report-type=delivery-status"}},
    body = "--\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n\r\n\0\1\2--"})
run("1000-recipients", {from = "<>",
    rcpts = {"<tlsrpt+3333333333333333-4444444444444444@sender.example>"},
    headers = dsn_headers, body = dsn_body(1000)})
run("too-large", {from = "<>", rcpts = {"<tlsrpt+5555555555555555-6666666666666666@sender.example>"},
    headers = dsn_headers, body_bytes = 1100000})
