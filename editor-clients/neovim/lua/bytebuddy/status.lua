-- Last bytebuddy/status notification from the server, and the statusline component.
local M = {}

---@class bytebuddy.Status
---@field state string  ready|busy|loading|error|disabled|unconfigured|starting|stopped|missing
---@field message string
---@field model string|nil
---@field role string|nil
---@field endpoint table|nil  the model's Inference Endpoint: {name, namespace?, state, message?, ...}
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

-- Endpoint states that keep the model from answering, shown instead of the server state.
local endpoint_icons = {
  paused = "⏸",
  pending = "◌",
  initializing = "◌",
  updating = "◌",
  failed = "✗",
  updateFailed = "✗",
}

---@param status bytebuddy.Status
function M.set(status)
  M.current = {
    state = status.state or "ready",
    message = status.message or "",
    model = status.model,
    role = status.role,
    endpoint = type(status.endpoint) == "table" and status.endpoint or nil,
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
  local endpoint = s.endpoint
  if endpoint and endpoint_icons[endpoint.state] then
    -- e.g. "BB ⏸ my-coder paused": why nothing happens, and what to resume.
    return ("BB %s %s %s"):format(endpoint_icons[endpoint.state], endpoint.name, endpoint.state)
  end
  local text = "BB " .. (icons[s.state] or "") .. " " .. s.state
  if s.model and s.model ~= "" then
    text = text .. " (" .. s.model .. ")"
  end
  if endpoint and endpoint.state == "scaledToZero" then
    text = text .. " [" .. endpoint.name .. ": zero]"
  end
  return text
end

return M
