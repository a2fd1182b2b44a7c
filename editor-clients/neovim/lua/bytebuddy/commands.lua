-- The :ByteBuddy* commands (edit, apply, toggle, models, status) and their Lua functions.
local lsp = require("bytebuddy.lsp")
local status = require("bytebuddy.status")
local inline = require("bytebuddy.inline")

local M = {}

--- LSP character offset of a byte column on a line, in the client's encoding.
local function to_character(line, byte_col, encoding)
  byte_col = math.min(byte_col, #line)
  if encoding == "utf-8" then
    return byte_col
  end
  local ok, character = pcall(vim.str_utfindex, line, encoding, byte_col, false)
  return ok and character or byte_col
end

--- The LSP range of lines line1..line2 (1-based, inclusive), or of the last characterwise
--- visual selection when it covers exactly those lines.
---@param bufnr integer
---@param line1 integer
---@param line2 integer
---@param encoding string
---@param use_visual boolean
---@return lsp.Range
function M.lines_range(bufnr, line1, line2, encoding, use_visual)
  local last = vim.api.nvim_buf_get_lines(bufnr, line2 - 1, line2, false)[1] or ""
  local first = vim.api.nvim_buf_get_lines(bufnr, line1 - 1, line1, false)[1] or ""
  local range = {
    start = { line = line1 - 1, character = 0 },
    ["end"] = { line = line2 - 1, character = to_character(last, #last, encoding) },
  }
  if use_visual and vim.fn.visualmode() == "v" then
    local vs, ve = vim.fn.getpos("'<"), vim.fn.getpos("'>")
    if vs[2] == line1 and ve[2] == line2 then
      local end_byte = math.min(ve[3], #last)
      if end_byte > 0 then
        end_byte = end_byte + vim.str_utf_end(last, end_byte)
      end
      range.start.character = to_character(first, vs[3] - 1, encoding)
      range["end"].character = to_character(last, end_byte, encoding)
    end
  end
  return range
end

---@param bufnr integer
---@return vim.lsp.Client|nil
local function require_client(bufnr)
  local client = lsp.get_client(bufnr)
  if not client then
    lsp.notify_not_running()
  end
  return client
end

--- Rewrites lines line1..line2 by instruction; the server answers with workspace/applyEdit.
---@param instruction string
---@param opts {bufnr: integer|nil, line1: integer, line2: integer, visual: boolean|nil}
---@return boolean sent
function M.edit(instruction, opts)
  local bufnr = opts.bufnr or vim.api.nvim_get_current_buf()
  local client = require_client(bufnr)
  if not client then
    return false
  end
  local range = M.lines_range(bufnr, opts.line1, opts.line2, client.offset_encoding, opts.visual == true)
  vim.notify("ByteBuddy: editing…", vim.log.levels.INFO)
  return lsp.execute("bytebuddy.edit", {
    { uri = vim.uri_from_bufnr(bufnr), range = range, instruction = instruction },
  }, bufnr, function(err)
    if not err then
      vim.notify("ByteBuddy: edit applied (undo with u)", vim.log.levels.INFO)
    end
  end)
end

--- Applies code (by default the last code block of the last chat answer) to the buffer.
---@param code string|nil
---@param opts {bufnr: integer|nil, line1: integer|nil, line2: integer|nil}
---@return boolean sent
function M.apply(code, opts)
  local bufnr = opts.bufnr or vim.api.nvim_get_current_buf()
  code = code or require("bytebuddy.chat").last_code_block() or require("bytebuddy.chat").last.content
  if not code or code == "" then
    vim.notify(
      "ByteBuddy: nothing to apply; ask :ByteBuddyChat first or give a register (:ByteBuddyApply a).",
      vim.log.levels.WARN
    )
    return false
  end
  local client = require_client(bufnr)
  if not client then
    return false
  end
  local args = { uri = vim.uri_from_bufnr(bufnr), code = code }
  if opts.line1 and opts.line2 then
    args.range = M.lines_range(bufnr, opts.line1, opts.line2, client.offset_encoding, false)
  end
  return lsp.execute("bytebuddy.apply", { args }, bufnr, function(err)
    if not err then
      vim.notify("ByteBuddy: applied (undo with u)", vim.log.levels.INFO)
    end
  end)
end

--- Turns ghost text on or off (in the plugin and in the server).
---@return boolean enabled
function M.toggle()
  local enabled = not inline.is_enabled()
  inline.set_enabled(enabled)
  local client = lsp.get_client(nil)
  if client then
    lsp.execute("bytebuddy.toggleAutocomplete", {}, nil, function(err, result)
      -- The server's answer wins when it says which state it is in.
      local server_state = type(result) == "table" and result.enabled or result
      if not err and type(server_state) == "boolean" and server_state ~= inline.is_enabled() then
        inline.set_enabled(server_state)
      end
    end)
  end
  vim.notify("ByteBuddy autocomplete: " .. (enabled and "on" or "off"), vim.log.levels.INFO)
  return enabled
end

local role_order = { "autocomplete", "chat", "edit", "apply" }

local function is_active(model, role)
  if type(model.active) == "table" then
    return vim.tbl_contains(model.active, role)
  end
  return model.active == true
end

---@param role string
---@param name string
function M.select_model(role, name)
  return lsp.execute("bytebuddy.selectModel", { { role = role, name = name } }, nil, function(err)
    if not err then
      vim.notify(("ByteBuddy: %s now uses %s"):format(role, name), vim.log.levels.INFO)
    end
  end)
end

--- Lists models (bytebuddy/models) and lets the user pick one per role.
--- With role and name given, selects directly.
---@param role string|nil
---@param name string|nil
function M.models(role, name)
  if role and name then
    return M.select_model(role, name)
  end
  local client = lsp.get_client(nil)
  if not client then
    lsp.notify_not_running()
    return false
  end
  client:request("bytebuddy/models", vim.empty_dict(), function(err, models)
    if err or type(models) ~= "table" then
      vim.notify("ByteBuddy: cannot list models: " .. (err and err.message or "no answer"), vim.log.levels.ERROR)
      return
    end
    local function pick_model(chosen_role)
      local choices = vim.tbl_filter(function(m)
        return vim.tbl_contains(m.roles or {}, chosen_role)
      end, models)
      if #choices == 0 then
        choices = models
      end
      vim.ui.select(choices, {
        prompt = "ByteBuddy model for " .. chosen_role .. ":",
        format_item = function(m)
          return ("%s%s  (%s, %s)"):format(is_active(m, chosen_role) and "* " or "  ", m.name, m.model, m.provider)
        end,
      }, function(choice)
        if choice then
          M.select_model(chosen_role, choice.name)
        end
      end)
    end
    if role then
      return pick_model(role)
    end
    vim.ui.select(role_order, {
      prompt = "ByteBuddy role:",
      format_item = function(r)
        local active = "none"
        for _, m in ipairs(models) do
          if is_active(m, r) then
            active = m.name
            break
          end
        end
        return ("%-12s %s"):format(r, active)
      end,
    }, function(choice)
      if choice then
        pick_model(choice)
      end
    end)
  end)
  return true
end

--- Lines describing the plugin and server state (:ByteBuddyStatus).
---@return string[]
function M.status_lines()
  local s = status.current
  local lines = {
    ("ByteBuddy: %s%s"):format(s.state, s.message ~= "" and (" — " .. s.message) or ""),
  }
  if s.model then
    table.insert(lines, ("  model: %s%s"):format(s.model, s.role and (" (" .. s.role .. ")") or ""))
  end
  if type(s.budget) == "table" and s.budget.message then
    table.insert(lines, "  budget: " .. s.budget.message)
  end
  local client = lsp.get_client(nil)
  if client then
    table.insert(lines, ("  client: id %d, root %s, encoding %s"):format(
      client.id,
      client.root_dir or "(single file)",
      client.offset_encoding
    ))
    local attached = lsp.get_client(vim.api.nvim_get_current_buf()) ~= nil
    table.insert(lines, "  this buffer: " .. (attached and "attached" or "not attached"))
  else
    table.insert(lines, "  client: not running")
  end
  if lsp.start_error and lsp.start_error ~= s.message then
    table.insert(lines, "  " .. lsp.start_error)
  end
  local d = inline.debug_state()
  table.insert(lines, ("  autocomplete: %s, requests sent %d, cancelled %d"):format(
    d.enabled and "on" or "off",
    d.requests,
    d.cancelled
  ))
  return lines
end

function M.status()
  local lines = M.status_lines()
  vim.api.nvim_echo({ { table.concat(lines, "\n") } }, true, {})
  return lines
end

return M
