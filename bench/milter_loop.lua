-- milter_loop.lua - N (-D N=...) messages on one connection to SOCK, each
-- with 3 recipients (domains cycling over 1000), 6 headers and a 2 KB body,
-- every reply checked: the load of bench/milter.sh.
local conn = mt.connect(SOCK, 240, 0.25)
if conn == nil then error("cannot connect to " .. SOCK) end
mt.set_timeout(60)
if mt.conninfo(conn, "localhost", "127.0.0.1") ~= nil then error("conninfo") end
local body = string.rep(string.rep("b", 78) .. "\r\n", 26)
local function step(result, what)
    if result ~= nil then error(what .. ": " .. result) end
    local reply = mt.getreply(conn)
    if reply ~= SMFIR_CONTINUE then error(what .. ": reply " .. tostring(reply)) end
end
for i = 1, tonumber(N) do
    mt.macro(conn, SMFIC_MAIL, "i", string.format("BENCH%06d", i))
    step(mt.mailfrom(conn, "<user@sender.example>"), "mailfrom")
    for r = 0, 2 do
        step(mt.rcptto(conn, string.format("<u%d@d%d.example>", r, (i * 3 + r) % 1000)), "rcpt")
    end
    step(mt.header(conn, "From", "user@sender.example"), "header")
    step(mt.header(conn, "To", "u0@d1.example"), "header")
    step(mt.header(conn, "Subject", "bench " .. i), "header")
    step(mt.header(conn, "Date", "Thu, 3 Dec 2026 09:00:00 +0000"), "header")
    step(mt.header(conn, "Message-ID", "<" .. i .. "@sender.example>"), "header")
    step(mt.header(conn, "Content-Type", "text/plain"), "header")
    step(mt.eoh(conn), "eoh")
    step(mt.bodystring(conn, body), "body")
    step(mt.eom(conn), "eom")
end
mt.disconnect(conn)
