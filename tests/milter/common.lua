-- common.lua - what the tests/milter/*.lua miltertest scripts share: connect
-- to tlsrpt-milter at SOCK (-D SOCK=...), send one message, and say in one
-- line what the filter answered at end of message and what it asked to change.
function check(ok, what)
    if not ok then error(what) end
end

local reply_names = {
    [SMFIR_CONTINUE] = "continue", [SMFIR_ACCEPT] = "accept", [SMFIR_DISCARD] = "discard",
    [SMFIR_REJECT] = "reject", [SMFIR_TEMPFAIL] = "tempfail",
}
function reply_name(conn)
    local r = mt.getreply(conn)
    return reply_names[r] or ("code " .. tostring(r))
end

function expect_continue(conn, what)
    local name = reply_name(conn)
    check(name == "continue", what .. ": " .. name)
end

function open()
    mt.set_timeout(60)
    local conn = mt.connect(SOCK, 240, 0.25)
    check(conn ~= nil, "cannot connect to " .. SOCK)
    check(mt.conninfo(conn, "localhost", "127.0.0.1") == nil, "conninfo")
    expect_continue(conn, "connect")
    return conn
end

-- spec: from, rcpts, headers {{name, value}...}, body (string), body_bytes (n),
-- qid (the {i} macro, as Sendmail sends it at MAIL FROM; nil: none).
function send(conn, spec)
    if spec.qid then mt.macro(conn, SMFIC_MAIL, "i", spec.qid) end
    check(mt.mailfrom(conn, spec.from) == nil, "mailfrom")
    expect_continue(conn, "MAIL FROM")
    for _, rcpt in ipairs(spec.rcpts) do
        check(mt.rcptto(conn, rcpt) == nil, "rcptto")
        expect_continue(conn, "RCPT TO " .. rcpt)
    end
    for _, h in ipairs(spec.headers or {}) do
        check(mt.header(conn, h[1], h[2]) == nil, "header")
        expect_continue(conn, "header " .. h[1])
    end
    check(mt.eoh(conn) == nil, "eoh")
    expect_continue(conn, "end of headers")
    -- In chunks as an MTA sends them: libmilter takes at most 64 KB at once.
    local body = spec.body or ""
    for at = 1, #body, 60000 do
        check(mt.bodystring(conn, body:sub(at, at + 59999)) == nil, "body")
        expect_continue(conn, "body")
    end
    local left = spec.body_bytes or 0
    local line = string.rep("x", 998) .. "\r\n"
    local chunk = string.rep(line, 60)
    while left > 0 do
        check(mt.bodystring(conn, chunk) == nil, "body chunk")
        expect_continue(conn, "body chunk")
        left = left - #chunk
    end
    check(mt.eom(conn) == nil, "eom")
end

-- "eom=REPLY tls-required=added|no quarantine=yes|no"
function outcome(conn)
    local added = mt.eom_check(conn, MT_HDRADD, "TLS-Required", "No")
    local any = mt.eom_check(conn, MT_HDRADD)
    local header = added and "added" or (any and "other" or "no")
    local quarantine = mt.eom_check(conn, MT_QUARANTINE) and "yes" or "no"
    return "eom=" .. reply_name(conn) .. " tls-required=" .. header .. " quarantine=" .. quarantine
end

-- One message on a connection of its own; prints NAME: outcome.
function run(name, spec)
    local conn = open()
    send(conn, spec)
    mt.echo(name .. ": " .. outcome(conn))
    mt.disconnect(conn)
end

REPORT_TYPE = 'multipart/report; report-type="tlsrpt"; boundary="b1"'

-- A message file as an MTA hands it to a milter: headers (continuation
-- lines kept in the value), then the body with CRLF line ends.
function message_file(path)
    local f = assert(io.open(path, "rb"))
    local text = f:read("*a"):gsub("\r\n", "\n")
    f:close()
    local head, body = text:match("^(.-)\n\n(.*)$")
    local headers = {}
    for line in (head .. "\n"):gmatch("(.-)\n") do
        if line:match("^[ \t]") and #headers > 0 then
            headers[#headers][2] = headers[#headers][2] .. "\r\n" .. line
        else
            local name, value = line:match("^([^:]+):[ \t]*(.*)$")
            headers[#headers + 1] = {name, value}
        end
    end
    return headers, (body:gsub("\n", "\r\n"))
end
