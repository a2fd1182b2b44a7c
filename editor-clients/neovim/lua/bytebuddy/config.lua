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

local PROJECT_FILES = { [".nvim.lua"] = true, [".nvimrc"] = true, [".exrc"] = true, [".lazy.lua"] = true }

--- "workspace" when `file` (the script that called setup()) is project-local: an exrc file
--- (.nvim.lua, .nvimrc, .exrc), lazy.nvim's .lazy.lua, or any file under the current
--- directory outside the user's config. Its settings are the repository's, not the user's.
---@param file string|nil
---@return "user"|"workspace"
function M.source_of(file)
  if type(file) ~= "string" or file == "" then
    return "user"
  end
  local real = vim.uv.fs_realpath(file) or file
  if PROJECT_FILES[vim.fs.basename(real)] then
    return "workspace"
  end
  local function under(dir)
    dir = dir and (vim.uv.fs_realpath(dir) or dir)
    return dir ~= nil and dir ~= "" and (real == dir or real:sub(1, #dir + 1) == dir .. "/")
  end
  if under(vim.fn.stdpath("config")) then
    return "user"
  end
  return under(vim.fn.getcwd()) and "workspace" or "user"
end

---@param opts table|nil
---@param caller string|nil the file that called setup() (decides where init_options came from)
---@return table
function M.set(opts, caller)
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
  -- The server trusts a config the user chose; one a project-local file chose waits for
  -- the user's trust (see the README, "Secrets and trust").
  local init = M.options.init_options
  if type(init) == "table" and (init.config ~= nil or init.configPath ~= nil) then
    local source = M.source_of(caller)
    init = vim.deepcopy(init)
    init.sources = { config = source, configPath = source }
    M.options.init_options = init
  end
  return M.options
end

return M
