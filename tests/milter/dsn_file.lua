-- dsn_file.lua - the bounce in FILE (-D FILE=...) to RCPT, from <>, as NAME.
dofile(DIR .. "/common.lua")
local headers, body = message_file(FILE)
run(NAME, {from = "<>", rcpts = {"<" .. RCPT .. ">"}, headers = headers, body = body})
