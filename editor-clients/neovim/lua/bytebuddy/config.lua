-- Defaults and the merged options of require("bytebuddy").setup().
local M = {}

---@class bytebuddy.Keymaps
---@field accept string|false         accept the whole suggestion (falls back to the key's normal action)
---@field accept_word string|false
---@field accept_line string|false
---@field next string|false
---@field prev string|false
---@field dismiss string|false
---@field suggest string|false        ask for a suggestion now (no debounce)

---@class bytebuddy.Options
M.defaults = {
  -- The language server command. A missing binary gives one clear message.
  cmd = { "bytebuddy-ls" },
  -- nil = every filetype (the server is language agnostic).
  filetypes = nil,
  root_markers = { ".bytebuddy", ".git" },
  -- Sent as LSP initializationOptions: { config = {...} } (inline config.yaml schema)
  -- or { configPath = "..." }. Empty = the server's own lookup ($BYTEBUDDY_CONFIG, .bytebuddy/config.yaml, ...).
  init_options = {},
  -- Extra fields merged into vim.lsp.config("bytebuddy", ...) (e.g. on_attach, capabilities).
  lsp = {},
  -- Ghost text.
  autocomplete = true,
  debounce_ms = 150,
  -- Use Neovim 0.12's vim.lsp.inline_completion instead of the plugin's own ghost text.
  native_inline_completion = false,
  -- Hide ghost text while the popup menu is visible.
  hide_during_completion = true,
  keymaps = {
    accept = "<Tab>",
    accept_word = "<M-Right>",
    accept_line = "<M-Down>",
    next = "<M-]>",
    prev = "<M-[>",
    dismiss = "<C-]>",
    suggest = "<M-\\>",
  },
  chat = {
    -- How the chat buffer opens: "vsplit", "split" or "tab".
    layout = "vsplit",
  },
}

---@type table
M.options = vim.deepcopy(M.defaults)

---@param opts table|nil
---@return table
function M.set(opts)
  M.options = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts or {})
  -- A list given by the user replaces the default list instead of being merged by index.
  for _, key in ipairs({ "cmd", "filetypes", "root_markers" }) do
    if opts and opts[key] ~= nil then
      M.options[key] = opts[key]
    end
  end
  if opts and opts.init_options ~= nil then
    M.options.init_options = opts.init_options
  end
  return M.options
end

return M
