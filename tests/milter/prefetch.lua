-- prefetch.lua - recipient domains go to tlsrptd's policy service: each
-- once (case and a trailing dot do not make a new one), never those of our
-- own report mail, never address literals; the message itself goes on.
dofile(DIR .. "/common.lua")
run("outgoing", {from = "<user@sender.example>",
    rcpts = {"<a@enforce.example>", "<b@ENFORCE.example.>", "<c@broken.example>",
             "<d@[192.0.2.1]>", "<e@enforce.example>"}})
run("again", {from = "<user@sender.example>", rcpts = {"<f@broken.example>"}})
run("own-report", {from = "<tlsrpt@sender.example>", rcpts = {"<tlsrpt@report-only.example>"},
    qid = "4ABC123DF4"})
