-- ByteBuddy for Neovim: ghost text, chat, edit and apply from bytebuddy-ls.
local config = require("bytebuddy.config")
local status = require("bytebuddy.status")

local M = {}

M.did_setup = false

local function native_available()
  return vim.lsp.inline_completion ~= nil and vim.fn.has("nvim-0.12") == 1
end

--- Whether the plugin hands ghost text over to Neovim 0.12's vim.lsp.inline_completion.
---@return boolean
function M.uses_native()
  return config.options.native_inline_completion == true and native_available()
end

--- Starts bytebuddy-ls for every buffer and installs ghost text, keys and commands.
---@param opts table|nil see :help bytebuddy-setup
function M.setup(opts)
  if vim.fn.has("nvim-0.11") == 0 then
    vim.notify("ByteBuddy needs Neovim >= 0.11 (this is " .. tostring(vim.version()) .. ").", vim.log.levels.ERROR)
    return
  end
  local caller = debug.getinfo(2, "S")
  local file = caller and caller.source:sub(1, 1) == "@" and caller.source:sub(2) or nil
  local options = config.set(opts, file)
  M.did_setup = true
  if M.uses_native() then
    vim.lsp.inline_completion.enable(options.autocomplete ~= false)
    M._native_keymaps(options.keymaps)
  else
    require("bytebuddy.inline").setup(options)
    require("bytebuddy.keymaps").setup(options.keymaps)
  end
  require("bytebuddy.lsp").setup(options)
end

--- 0.12+: the built-in module draws and accepts; only the accept key needs a fallback.
function M._native_keymaps(keymaps)
  if type(keymaps.accept) == "string" and keymaps.accept ~= "" then
    local lhs = keymaps.accept
    vim.keymap.set("i", lhs, function()
      if not vim.lsp.inline_completion.get() then
        return lhs
      end
    end, { expr = true, replace_keycodes = true, desc = "ByteBuddy: accept suggestion" })
  end
end

--- Asks for a suggestion at the cursor now (no debounce). Works in insert mode.
function M.suggest()
  return require("bytebuddy.inline").suggest()
end

--- The suggestion shown at the cursor (text that accept() inserts), or nil.
---@return string|nil
function M.current_suggestion()
  return require("bytebuddy.inline").current_suggestion()
end

--- Accepts the shown suggestion; false when none is shown.
---@return boolean
function M.accept()
  if M.uses_native() then
    return vim.lsp.inline_completion.get() == true
  end
  return require("bytebuddy.inline").accept()
end

function M.accept_word()
  return require("bytebuddy.inline").accept_word()
end

function M.accept_line()
  return require("bytebuddy.inline").accept_line()
end

function M.next()
  return require("bytebuddy.inline").next()
end

function M.prev()
  return require("bytebuddy.inline").prev()
end

--- Hides the suggestion and cancels the pending request.
function M.dismiss()
  return require("bytebuddy.inline").dismiss()
end

--- Statusline component text, e.g. "BB ● ready (starcoder2-3b)".
---@return string
function M.statusline()
  return status.statusline()
end

--- The last bytebuddy/status: {state, message, model?, role?}.
---@return table
function M.status()
  return vim.deepcopy(status.current)
end

---@param question string
---@param opts table|nil
function M.chat(question, opts)
  return require("bytebuddy.chat").ask(question, opts)
end

function M.toggle()
  return require("bytebuddy.commands").toggle()
end

return M
