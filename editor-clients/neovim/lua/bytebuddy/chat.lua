-- :ByteBuddyChat — a scratch markdown buffer that streams bytebuddy/chat answers
-- ($/progress values {delta} on the request's partialResultToken).
local lsp = require("bytebuddy.lsp")
local config = require("bytebuddy.config")

local M = {}

M.buffer_name = "bytebuddy://chat"

---@type {role: string, content: string}[]
M.messages = {}

--- The last exchange, for :ByteBuddyApply and tests.
M.last = {
  question = nil, ---@type string|nil
  content = nil, ---@type string|nil  final answer (the server's `content`)
  model = nil, ---@type string|nil
  deltas = 0, -- $/progress values received while streaming
  streamed = "", -- text received through $/progress
  done = false,
  error = nil, ---@type string|nil
}

local token_counter = 0
---@type {client_id: integer, id: integer, token: string}|nil
local pending = nil

---@return integer bufnr
function M.get_buffer()
  local existing = vim.fn.bufnr(M.buffer_name)
  if existing ~= -1 and vim.api.nvim_buf_is_valid(existing) then
    return existing
  end
  local bufnr = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_name(bufnr, M.buffer_name)
  vim.bo[bufnr].buftype = "nofile"
  vim.bo[bufnr].bufhidden = "hide"
  vim.bo[bufnr].swapfile = false
  vim.bo[bufnr].filetype = "markdown"
  vim.keymap.set("n", "q", "<Cmd>close<CR>", { buffer = bufnr, desc = "ByteBuddy: close chat" })
  vim.keymap.set("n", "<CR>", function()
    M.prompt()
  end, { buffer = bufnr, desc = "ByteBuddy: ask a question" })
  return bufnr
end

--- Shows the chat buffer in a window (reusing one that already shows it).
---@return integer winid
function M.open()
  local bufnr = M.get_buffer()
  for _, win in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
    if vim.api.nvim_win_get_buf(win) == bufnr then
      return win
    end
  end
  local layout = config.options.chat and config.options.chat.layout or "vsplit"
  local current = vim.api.nvim_get_current_win()
  if layout == "tab" then
    vim.cmd("tab sbuffer " .. bufnr)
  elseif layout == "split" then
    vim.cmd("belowright sbuffer " .. bufnr)
  else
    vim.cmd("vertical belowright sbuffer " .. bufnr)
  end
  local win = vim.api.nvim_get_current_win()
  vim.wo[win].wrap = true
  vim.wo[win].linebreak = true
  -- Keep the user where they were typing; the chat window only shows the answer.
  if layout ~= "tab" then
    vim.api.nvim_set_current_win(current)
  end
  return win
end

local function scroll_to_end(bufnr)
  local count = vim.api.nvim_buf_line_count(bufnr)
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_buf(win) == bufnr and win ~= vim.api.nvim_get_current_win() then
      pcall(vim.api.nvim_win_set_cursor, win, { count, 0 })
    end
  end
end

--- Appends text at the very end of the buffer (text may contain newlines).
local function append(bufnr, text)
  if text == "" or not vim.api.nvim_buf_is_valid(bufnr) then
    return
  end
  local last = vim.api.nvim_buf_line_count(bufnr) - 1
  local last_line = vim.api.nvim_buf_get_lines(bufnr, last, last + 1, false)[1] or ""
  vim.api.nvim_buf_set_text(bufnr, last, #last_line, last, #last_line, vim.split(text, "\n", { plain = true }))
  scroll_to_end(bufnr)
end

local function is_empty(bufnr)
  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  return #lines == 1 and lines[1] == ""
end

--- Cancels the answer being streamed, if any.
function M.cancel()
  if pending then
    local client = vim.lsp.get_client_by_id(pending.client_id)
    lsp.progress_listeners[pending.token] = nil
    if client then
      client:cancel_request(pending.id)
    end
    pending = nil
  end
end

--- Starts a new conversation.
function M.reset()
  M.cancel()
  M.messages = {}
  local bufnr = M.get_buffer()
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, {})
end

---@class bytebuddy.ChatOpts
---@field source_bufnr integer|nil  buffer the question is about
---@field range lsp.Range|nil       selection in that buffer
---@field reset boolean|nil          start a new conversation

--- Sends a question and streams the answer into the chat buffer.
---@param question string
---@param opts bytebuddy.ChatOpts|nil
---@return boolean sent
function M.ask(question, opts)
  opts = opts or {}
  if opts.reset then
    M.reset()
  end
  M.cancel()
  local source = opts.source_bufnr or vim.api.nvim_get_current_buf()
  local client = lsp.get_client(source) or lsp.get_client(nil)
  if not client then
    lsp.notify_not_running()
    return false
  end
  local bufnr = M.get_buffer()
  M.open()

  table.insert(M.messages, { role = "user", content = question })
  local header = is_empty(bufnr) and "" or "\n\n"
  append(bufnr, header .. "## You\n\n" .. question .. "\n\n## ByteBuddy\n\n")
  -- Where the answer starts, to replace it if the final content differs from the stream.
  local answer_row = vim.api.nvim_buf_line_count(bufnr) - 1

  token_counter = token_counter + 1
  local token = ("bytebuddy-chat-%d-%d"):format(vim.uv.os_getpid(), token_counter)
  M.last = { question = question, deltas = 0, streamed = "", done = false }
  local last = M.last

  lsp.progress_listeners[token] = function(value)
    if M.last ~= last or type(value) ~= "table" or type(value.delta) ~= "string" then
      return
    end
    last.deltas = last.deltas + 1
    last.streamed = last.streamed .. value.delta
    append(bufnr, value.delta)
  end

  local params = {
    messages = vim.deepcopy(M.messages),
    partialResultToken = token,
  }
  local uri = vim.api.nvim_buf_get_name(source) ~= "" and vim.bo[source].buftype == ""
    and vim.uri_from_bufnr(source)
  if uri then
    params.textDocument = { uri = uri }
    params.range = opts.range
  end

  local ok, id = client:request("bytebuddy/chat", params, function(err, result)
    lsp.progress_listeners[token] = nil
    if pending and pending.token == token then
      pending = nil
    end
    if M.last ~= last then
      return
    end
    last.done = true
    if err then
      last.error = err.message or vim.inspect(err)
      append(bufnr, "\n\n> ByteBuddy: " .. last.error)
      vim.notify("ByteBuddy chat: " .. last.error, vim.log.levels.ERROR)
      return
    end
    local content = type(result) == "table" and result.content or ""
    last.content = content
    last.model = type(result) == "table" and result.model or nil
    if content ~= last.streamed and vim.api.nvim_buf_is_valid(bufnr) then
      -- The final answer is the reference: replace what was streamed with it.
      vim.api.nvim_buf_set_lines(bufnr, answer_row, -1, false, vim.split(content, "\n", { plain = true }))
      scroll_to_end(bufnr)
    end
    table.insert(M.messages, { role = "assistant", content = content })
    last.truncated = type(result) == "table" and result.truncated == true
    if last.truncated then
      append(bufnr, "\n\n> ByteBuddy: the answer was cut at the model's token limit "
        .. "(raise defaultCompletionOptions.maxTokens for longer answers).")
    end
    if last.model then
      vim.b[bufnr].bytebuddy_model = last.model
    end
  end, source)
  if not ok or not id then
    lsp.progress_listeners[token] = nil
    vim.notify("ByteBuddy: the chat request could not be sent (is bytebuddy-ls running?)", vim.log.levels.ERROR)
    return false
  end
  pending = { client_id = client.id, id = id, token = token }
  return true
end

--- Asks for a question with vim.ui.input, then sends it.
---@param opts bytebuddy.ChatOpts|nil
function M.prompt(opts)
  vim.ui.input({ prompt = "Ask ByteBuddy: " }, function(input)
    if input and input ~= "" then
      M.ask(input, opts)
    end
  end)
end

--- The last fenced code block of the last answer (what :ByteBuddyApply uses by default).
---@return string|nil
function M.last_code_block()
  local content = M.last.content
  if not content then
    return nil
  end
  local block
  for code in content:gmatch("```[^\n]*\n(.-)\n?```") do
    block = code
  end
  return block
end

return M
