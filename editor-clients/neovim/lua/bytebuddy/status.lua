-- Last bytebuddy/status notification from the server, and the statusline component.
local M = {}

---@class bytebuddy.Status
---@field state string  ready|busy|loading|error|disabled|unconfigured|starting|stopped|missing
---@field message string
---@field model string|nil
---@field role string|nil
---@field budget table|nil  the most used budget: state, percent, message, onExceed, ...

---@type bytebuddy.Status
M.current = { state = "stopped", message = "not started" }

local icons = {
  ready = "●",
  busy = "◐",
  loading = "◌",
  error = "✗",
  disabled = "○",
  unconfigured = "?",
  starting = "◌",
  stopped = "○",
  missing = "✗",
}

---@param status bytebuddy.Status
function M.set(status)
  M.current = {
    state = status.state or "ready",
    message = status.message or "",
    model = status.model,
    role = status.role,
    budget = status.budget,
  }
  -- Let statuslines and user code react without polling.
  vim.schedule(function()
    pcall(vim.api.nvim_exec_autocmds, "User", {
      pattern = "ByteBuddyStatus",
      modeline = false,
      data = M.current,
    })
    pcall(vim.cmd.redrawstatus)
  end)
end

--- Statusline component, e.g. `set statusline+=%{v:lua.require'bytebuddy'.statusline()}`.
---@return string
function M.statusline()
  local s = M.current
  local text = "BB " .. (icons[s.state] or "") .. " " .. s.state
  if s.model and s.model ~= "" then
    text = text .. " (" .. s.model .. ")"
  end
  return text
end

return M
