-- Ghost text for Neovim 0.11: the plugin asks textDocument/inlineCompletion itself
-- (debounced, previous request cancelled) and draws the answer with one extmark:
-- the first line as inline virt_text at the cursor, the other lines as virt_lines.
local lsp = require("bytebuddy.lsp")

local M = {}

M.ns = vim.api.nvim_create_namespace("bytebuddy.suggestion")
M.hl_group = "ByteBuddySuggestion"

local INVOKED = 1 -- InlineCompletionTriggerKind (LSP 3.18)
local AUTOMATIC = 2

---@class bytebuddy.Item
---@field text string     what accepting inserts at the cursor (the typed part of the range removed)
---@field row integer     0-based row of the cursor the item is anchored at
---@field col integer     byte column of that cursor
---@field end_row integer end of the text the item replaces (0-based row)
---@field end_col integer end byte column of the replaced text (== col when nothing is replaced)
---@field command table|nil LSP command to run after a full accept

local state = {
  enabled = true,
  ---@type bytebuddy.Item[]
  items = {},
  index = 1,
  bufnr = nil, ---@type integer|nil
  extmark = nil, ---@type integer|nil
  ---@type {client_id: integer, id: integer, bufnr: integer}|nil
  request = nil,
  timer = nil, ---@type uv.uv_timer_t|nil
  -- Buffer state after the plugin's own edit (partial accept): the suggestion survives it.
  expected = nil, ---@type {tick: integer, row: integer, col: integer}|nil
  last_seen = nil, ---@type {tick: integer, row: integer, col: integer}|nil
  opts = { debounce_ms = 150, hide_during_completion = true },
}

--- Requests sent and cancelled, and the server's answer to the last accept command
--- (for tests and :ByteBuddyStatus).
M.stats = { requests = 0, cancelled = 0, last_accept = nil }

---@return boolean
function M.is_enabled()
  return state.enabled
end

---@param enabled boolean
function M.set_enabled(enabled)
  state.enabled = enabled
  if not enabled then
    M.dismiss()
  end
end

local function in_insert_mode()
  local mode = vim.api.nvim_get_mode().mode
  return mode:sub(1, 1) == "i" or mode:sub(1, 1) == "R"
end

local function cursor()
  local pos = vim.api.nvim_win_get_cursor(0)
  return pos[1] - 1, pos[2]
end

local function get_line(bufnr, row)
  return vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
end

--- LSP position character -> byte column on that line.
local function to_byte_col(line, character, encoding)
  if encoding == "utf-8" then
    return math.min(character, #line)
  end
  local ok, col = pcall(vim.str_byteindex, line, encoding, character, false)
  if not ok then
    return #line
  end
  return math.min(col, #line)
end

local function split_lines(text)
  return vim.split(text, "\n", { plain = true })
end

local function clear_extmark()
  if state.bufnr and state.extmark and vim.api.nvim_buf_is_valid(state.bufnr) then
    pcall(vim.api.nvim_buf_del_extmark, state.bufnr, M.ns, state.extmark)
  end
  state.extmark = nil
end

local function cancel_request()
  local req = state.request
  state.request = nil
  if req then
    local client = vim.lsp.get_client_by_id(req.client_id)
    if client then
      client:cancel_request(req.id)
      M.stats.cancelled = M.stats.cancelled + 1
    end
  end
end

local function stop_timer()
  if state.timer then
    state.timer:stop()
  end
end

--- Removes the suggestion, the pending request and the pending debounce.
function M.dismiss()
  stop_timer()
  cancel_request()
  clear_extmark()
  state.items = {}
  state.index = 1
  state.expected = nil
end

---@return bytebuddy.Item|nil
local function current_item()
  return state.items[state.index]
end

local function display_text(text)
  local spaces = string.rep(" ", vim.bo.tabstop)
  return (text:gsub("\t", spaces))
end

local function render()
  clear_extmark()
  local item = current_item()
  if not item or not vim.api.nvim_buf_is_valid(state.bufnr) then
    return
  end
  local lines = split_lines(item.text)
  local first = lines[1]
  -- When the item also replaces text after the cursor that it repeats, do not show it twice.
  if item.end_row == item.row and item.end_col > item.col and #lines == 1 then
    local replaced = get_line(state.bufnr, item.row):sub(item.col + 1, item.end_col)
    if first:sub(-#replaced) == replaced then
      first = first:sub(1, #first - #replaced)
    end
  end
  local mark = { hl_mode = "combine", right_gravity = false }
  if first ~= "" then
    mark.virt_text = { { display_text(first), M.hl_group } }
    mark.virt_text_pos = "inline"
  end
  if #lines > 1 then
    mark.virt_lines = {}
    for i = 2, #lines do
      table.insert(mark.virt_lines, { { display_text(lines[i]), M.hl_group } })
    end
  end
  state.extmark = vim.api.nvim_buf_set_extmark(state.bufnr, M.ns, item.row, item.col, mark)
end

--- Turns LSP InlineCompletionItems into items anchored at the cursor; items whose
--- range does not match what is typed are dropped (the client filters, per LSP).
---@return bytebuddy.Item[]
local function normalize(result, bufnr, row, col, encoding)
  local raw = result
  if type(result) == "table" and result.items then
    raw = result.items
  end
  if type(raw) ~= "table" then
    return {}
  end
  local line = get_line(bufnr, row)
  local items = {}
  for _, it in ipairs(raw) do
    local text = it.insertText
    if type(text) == "table" then
      -- StringValue snippet: keep the literal text, drop tabstop markers.
      text = (text.value or ""):gsub("%${%d+:([^}]*)}", "%1"):gsub("%$%d+", "")
    end
    if type(text) == "string" then
      text = text:gsub("\r\n", "\n")
      local start_col, end_row, end_col = col, row, col
      local ok = true
      if type(it.range) == "table" then
        local s, e = it.range.start, it.range["end"]
        if s.line ~= row then
          ok = false
        else
          start_col = to_byte_col(line, s.character, encoding)
          end_row = e.line
          end_col = e.line == row and to_byte_col(line, e.character, encoding)
            or to_byte_col(get_line(bufnr, e.line), e.character, encoding)
          if start_col > col or (end_row == row and end_col < col) then
            ok = false
          end
        end
      end
      if ok then
        local typed = line:sub(start_col + 1, col)
        if text:sub(1, #typed) == typed then
          text = text:sub(#typed + 1)
          local is_noop = text == "" and end_row == row and end_col == col
          if not is_noop then
            table.insert(items, {
              text = text,
              row = row,
              col = col,
              end_row = end_row,
              end_col = end_col,
              command = it.command,
            })
          end
        end
      end
    end
  end
  return items
end

local function client_for(bufnr)
  return lsp.get_client(bufnr)
end

--- Sends textDocument/inlineCompletion for the cursor now, cancelling the previous one.
---@param trigger_kind integer|nil
function M.request(trigger_kind)
  stop_timer()
  cancel_request()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_for(bufnr)
  if not client then
    return false
  end
  local row, col = cursor()
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  ---@diagnostic disable-next-line: inject-field
  params.context = { triggerKind = trigger_kind or AUTOMATIC }
  local request_id
  local ok, id = client:request("textDocument/inlineCompletion", params, function(err, result)
    if not state.request or state.request.id ~= request_id then
      return -- superseded
    end
    state.request = nil
    if err or result == nil then
      return
    end
    if vim.api.nvim_get_current_buf() ~= bufnr or not in_insert_mode() then
      return
    end
    local now_row, now_col = cursor()
    if now_row ~= row or now_col ~= col or vim.api.nvim_buf_get_changedtick(bufnr) ~= tick then
      return -- the user moved on; a newer request is (or will be) on its way
    end
    local items = normalize(result, bufnr, row, col, client.offset_encoding)
    clear_extmark()
    state.items = items
    state.index = 1
    state.bufnr = bufnr
    render()
  end, bufnr)
  if ok and id then
    request_id = id
    state.request = { client_id = client.id, id = id, bufnr = bufnr }
    M.stats.requests = M.stats.requests + 1
  end
  return ok
end

local function schedule_request()
  stop_timer()
  cancel_request()
  if not state.enabled then
    return
  end
  state.timer = state.timer or vim.uv.new_timer()
  local bufnr = vim.api.nvim_get_current_buf()
  state.timer:start(
    state.opts.debounce_ms,
    0,
    vim.schedule_wrap(function()
      if state.enabled and in_insert_mode() and vim.api.nvim_get_current_buf() == bufnr then
        M.request(AUTOMATIC)
      end
    end)
  )
end

--- Keeps the suggestion when the user types its next characters; true when kept.
local function consume_typed(bufnr, row, col)
  local item = current_item()
  if not item or state.bufnr ~= bufnr or row ~= item.row or col < item.col then
    return false
  end
  local typed = get_line(bufnr, row):sub(item.col + 1, col)
  local n = #typed
  if n == 0 or n >= #item.text or item.text:sub(1, n) ~= typed or typed:find("\n", 1, true) then
    return false
  end
  for _, it in ipairs(state.items) do
    if it.text:sub(1, n) == typed then
      it.text = it.text:sub(n + 1)
      if it.end_row == it.row then
        it.end_col = it.end_col + n
      end
      it.col = it.col + n
    end
  end
  render()
  return true
end

local function on_change()
  local bufnr = vim.api.nvim_get_current_buf()
  if vim.bo[bufnr].buftype ~= "" then
    return
  end
  local row, col = cursor()
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  local seen = state.last_seen
  if seen and seen.tick == tick and seen.row == row and seen.col == col then
    return -- TextChangedI and CursorMovedI for the same keystroke
  end
  state.last_seen = { tick = tick, row = row, col = col }
  local expected = state.expected
  state.expected = nil
  if expected and expected.tick == tick and expected.row == row and expected.col == col then
    return -- the plugin's own partial accept
  end
  if state.opts.hide_during_completion and vim.fn.pumvisible() == 1 then
    M.dismiss()
    return
  end
  if consume_typed(bufnr, row, col) then
    return
  end
  clear_extmark()
  state.items = {}
  schedule_request()
end

---@return string|nil
function M.current_suggestion()
  local item = current_item()
  if not item or not state.extmark then
    return nil
  end
  return item.text
end

---@return boolean
function M.is_visible()
  return M.current_suggestion() ~= nil and state.bufnr == vim.api.nvim_get_current_buf()
end

--- Inserts `text` at the cursor and moves the cursor after it.
local function insert_at(bufnr, row, col, end_row, end_col, text)
  local lines = split_lines(text)
  vim.api.nvim_buf_set_text(bufnr, row, col, end_row, end_col, lines)
  local new_row = row + #lines - 1
  local new_col = #lines == 1 and col + #lines[1] or #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { new_row + 1, new_col })
  return new_row, new_col
end

local function run_command(item, bufnr)
  local command = item.command
  if type(command) ~= "table" or not command.command then
    return
  end
  local client = client_for(bufnr)
  if client then
    client:request("workspace/executeCommand", {
      command = command.command,
      arguments = command.arguments,
    }, function(err, result)
      M.stats.last_accept = { command = command.command, ok = err == nil, result = result }
    end, bufnr)
  end
end

--- Accepts the whole shown suggestion (replacing the item's range when it has one).
---@return boolean accepted
function M.accept()
  if not M.is_visible() then
    return false
  end
  local item = current_item() --[[@as bytebuddy.Item]]
  local bufnr = state.bufnr --[[@as integer]]
  M.dismiss()
  insert_at(bufnr, item.row, item.col, item.end_row, item.end_col, item.text)
  run_command(item, bufnr)
  return true
end

--- Next word of a suggestion: an optional newline, indentation, then a run of word
--- characters (UTF-8 bytes count as word characters) or of punctuation.
local function take_word(text)
  local nl = text:match("^\n") or ""
  local rest = text:sub(#nl + 1)
  local word = rest:match("^[ \t]*[%w_\128-\255]+")
    or rest:match("^[ \t]*[^%w_\128-\255%s]+")
    or rest:match("^[ \t]+")
    or ""
  local part = nl .. word
  return part ~= "" and part or text
end

local function take_line(text)
  local nl = text:match("^\n") or ""
  local rest = text:sub(#nl + 1)
  return nl .. (rest:match("^[^\n]*") or "")
end

local function accept_part(take)
  if not M.is_visible() then
    return false
  end
  local item = current_item() --[[@as bytebuddy.Item]]
  local part = take(item.text)
  if part == item.text then
    return M.accept()
  end
  local bufnr = state.bufnr --[[@as integer]]
  -- Insert only the part; the rest stays as ghost text at the new cursor.
  local replaced_tail = item.end_row == item.row and (item.end_col - item.col) or nil
  local new_row, new_col = insert_at(bufnr, item.row, item.col, item.row, item.col, part)
  local added_rows = new_row - item.row
  item.text = item.text:sub(#part + 1)
  if replaced_tail then
    item.end_row, item.end_col = new_row, new_col + replaced_tail
  else
    item.end_row = item.end_row + added_rows
  end
  item.row, item.col = new_row, new_col
  state.items = { item }
  state.index = 1
  render()
  state.expected = {
    tick = vim.api.nvim_buf_get_changedtick(bufnr),
    row = new_row,
    col = new_col,
  }
  return true
end

function M.accept_word()
  return accept_part(take_word)
end

function M.accept_line()
  return accept_part(take_line)
end

local function cycle(step)
  if not M.is_visible() or #state.items < 2 then
    return false
  end
  state.index = (state.index - 1 + step) % #state.items + 1
  render()
  return true
end

function M.next()
  return cycle(1)
end

function M.prev()
  return cycle(-1)
end

--- Asks for a suggestion now, without waiting for the debounce.
function M.suggest()
  return M.request(INVOKED)
end

--- Debug view of the internal state (tests, :ByteBuddyStatus).
function M.debug_state()
  return {
    enabled = state.enabled,
    visible = M.is_visible(),
    pending = state.request ~= nil,
    items = #state.items,
    index = state.index,
    requests = M.stats.requests,
    cancelled = M.stats.cancelled,
  }
end

---@param opts table
function M.setup(opts)
  state.opts.debounce_ms = opts.debounce_ms or 150
  state.opts.hide_during_completion = opts.hide_during_completion ~= false
  state.enabled = opts.autocomplete ~= false
  vim.api.nvim_set_hl(0, M.hl_group, { link = "Comment", default = true })
  local group = vim.api.nvim_create_augroup("bytebuddy.inline", { clear = true })
  vim.api.nvim_create_autocmd({ "TextChangedI", "CursorMovedI" }, {
    group = group,
    callback = function()
      if state.enabled then
        on_change()
      end
    end,
  })
  vim.api.nvim_create_autocmd("CompleteChanged", {
    group = group,
    callback = function()
      if state.opts.hide_during_completion then
        M.dismiss()
      end
    end,
  })
  vim.api.nvim_create_autocmd({ "InsertLeave", "BufLeave" }, {
    group = group,
    callback = function()
      state.last_seen = nil
      M.dismiss()
    end,
  })
  vim.api.nvim_create_autocmd("ColorScheme", {
    group = group,
    callback = function()
      vim.api.nvim_set_hl(0, M.hl_group, { link = "Comment", default = true })
    end,
  })
end

return M
