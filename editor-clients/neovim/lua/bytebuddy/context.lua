-- :ByteBuddyContext — what the next prompt at the cursor takes from other files
-- (bytebuddy/context), shown in a scratch buffer beside the code.
local lsp = require("bytebuddy.lsp")

local M = {}

--- The last answer (for tests and for :lua inspection).
---@type table|nil
M.last = nil

local function code_lines(out, text)
  table.insert(out, "```")
  vim.list_extend(out, vim.split(text, "\n", { plain = true }))
  table.insert(out, "```")
end

--- The answer as Markdown lines: snippets with file, lines, score and tokens, the reason
--- when there are none, then the prompt.
---@param answer table
---@param where string
---@return string[]
function M.format(answer, where)
  local out = { "# ByteBuddy context: " .. where, "" }
  local facts = { "role " .. tostring(answer.role) }
  if answer.model and answer.model ~= vim.NIL then
    table.insert(facts, ("model %s (%s)"):format(answer.model, answer.modelId or "?"))
  end
  if type(answer.format) == "string" then
    table.insert(facts, "format " .. answer.format)
  end
  local tokens = type(answer.tokens) == "table" and answer.tokens or {}
  if tokens.context then
    table.insert(facts, ("context %d of %s tokens"):format(tokens.context, tostring(tokens.budget or "?")))
  end
  table.insert(out, table.concat(facts, " · "))
  local index = type(answer.index) == "table" and answer.index or nil
  if index then
    local text = "index: " .. tostring(index.state)
    if index.files then
      text = text .. (", %d files"):format(index.files)
    end
    if type(index.semantic) == "string" then
      text = text .. ", semantic: " .. index.semantic
    end
    table.insert(out, text)
  end
  if type(answer.query) == "string" then
    table.insert(out, "query: " .. answer.query)
  end
  table.insert(out, "")
  local snippets = type(answer.snippets) == "table" and answer.snippets or {}
  if #snippets == 0 then
    local reason = type(answer.reason) == "string" and answer.reason or "nothing found"
    table.insert(out, "No context from other files: " .. reason)
    table.insert(out, "")
  end
  for number, s in ipairs(snippets) do
    local what = s.kind .. ((type(s.symbol) == "string") and (" " .. s.symbol) or "")
    table.insert(out, ("## %d. %s:%d-%d  %s"):format(number, s.path, s.startLine + 1, s.endLine, what))
    table.insert(out, ("score %s · %d tokens"):format(tostring(s.score), s.tokens))
    if type(s.text) == "string" then
      code_lines(out, s.text)
    end
    table.insert(out, "")
  end
  if type(answer.prompt) == "string" then
    table.insert(out, "## The prompt sent")
    code_lines(out, answer.prompt)
  elseif type(answer.messages) == "table" then
    table.insert(out, "## The messages sent")
    for _, message in ipairs(answer.messages) do
      table.insert(out, "**" .. message.role .. "**")
      code_lines(out, message.content)
    end
  end
  return out
end

local BUFFER_NAME = "bytebuddy://context"

local function show_lines(lines)
  local bufnr = vim.fn.bufnr(BUFFER_NAME)
  if bufnr < 0 then
    bufnr = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_name(bufnr, BUFFER_NAME)
    vim.bo[bufnr].buftype = "nofile"
    vim.bo[bufnr].bufhidden = "hide"
    vim.bo[bufnr].swapfile = false
    vim.bo[bufnr].filetype = "markdown"
  end
  vim.bo[bufnr].modifiable = true
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, lines)
  vim.bo[bufnr].modifiable = false
  if #vim.fn.win_findbuf(bufnr) == 0 then
    local current = vim.api.nvim_get_current_win()
    vim.cmd("vertical botright split")
    vim.api.nvim_win_set_buf(0, bufnr)
    vim.api.nvim_set_current_win(current) -- the cursor stays in the code
  end
  return bufnr
end

--- Asks the server what the next prompt at the cursor would include and shows it.
--- With a question, shows the chat retrieval (@workspace) for it instead.
---@param query string|nil
---@return boolean sent
function M.show(query)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = lsp.get_client(bufnr)
  if not client then
    lsp.notify_not_running()
    return false
  end
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  local line = vim.api.nvim_buf_get_lines(bufnr, row - 1, row, false)[1] or ""
  local character = col
  if client.offset_encoding ~= "utf-8" then
    local ok, units = pcall(vim.str_utfindex, line, client.offset_encoding, math.min(col, #line), false)
    character = ok and units or col
  end
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = row - 1, character = character },
    role = query and "chat" or "autocomplete",
    query = query,
  }
  local where = ("%s:%d:%d"):format(vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ":."), row, col + 1)
  return client:request("bytebuddy/context", params, function(err, answer)
    if err or type(answer) ~= "table" then
      vim.notify("ByteBuddy: no context answer: " .. (err and err.message or "empty"), vim.log.levels.ERROR)
      return
    end
    M.last = answer
    show_lines(M.format(answer, where))
  end, bufnr)
end

return M
