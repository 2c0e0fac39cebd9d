-- rcpts.lua - one message from user@sender.example to the recipients in
-- RCPTS (-D RCPTS="a@x b@y"), as NAME.
dofile(DIR .. "/common.lua")
local rcpts = {}
for address in RCPTS:gmatch("%S+") do rcpts[#rcpts + 1] = "<" .. address .. ">" end
run(NAME, {from = "<user@sender.example>", rcpts = rcpts})
