-- Minimal init for the tests: the plugin from this checkout, nothing from the user.
local tests_dir = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h")
local plugin_dir = vim.fn.fnamemodify(tests_dir, ":h")
vim.opt.runtimepath:prepend(plugin_dir)
vim.opt.swapfile = false
vim.opt.shadafile = "NONE"
vim.opt.more = false

-- Record every notification (message and level) so tests can assert on them.
_G.bytebuddy_test_notifications = {}
local original_notify = vim.notify
vim.notify = function(msg, level, opts)
  table.insert(_G.bytebuddy_test_notifications, { msg = tostring(msg), level = level or vim.log.levels.INFO })
  return original_notify(msg, level, opts)
end
