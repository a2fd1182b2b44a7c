-- :ByteBuddyUsage: spend and tokens from the server's ledger (bytebuddy/usage), as a table.
local lsp = require("bytebuddy.lsp")

local M = {}

M.periods = { "today", "7d", "30d", "month" }
M.groupings = { "model", "provider", "role", "operation", "day" }

---@param n number
---@return string
local function count(n)
  local text = tostring(math.floor(n))
  local formatted = text:reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return (formatted:gsub("^,", ""))
end

---@param usd number
---@return string
function M.money(usd)
  if usd == 0 then
    return "$0"
  elseif usd < 1 then
    return ("$%.4f"):format(usd)
  end
  local whole, cents = math.floor(usd), math.floor((usd % 1) * 100 + 0.5)
  if cents == 100 then
    whole, cents = whole + 1, 0
  end
  return ("$%s.%02d"):format(count(whole), cents)
end

--- "$0.0123 · 12,345 tokens · 12 requests"
---@param total table
---@return string
function M.summary(total)
  local tokens = (total.prompt_tokens or 0) + (total.completion_tokens or 0)
  local requests = total.requests or 0
  return ("%s · %s%s tokens · %s request%s"):format(
    M.money(total.cost_usd or 0),
    total.estimated and "~" or "",
    count(tokens),
    count(requests),
    requests == 1 and "" or "s"
  )
end

--- The report as aligned lines, like `bytebuddy-ls usage`.
---@param report table
---@return string[]
function M.format(report)
  local by = report.by or "model"
  local header = { by, "requests", "prompt tok", "completion tok", "cost", "errors", "cached" }
  local function cells(first, row)
    local approx = row.estimated and "~" or ""
    return {
      first,
      count(row.requests or 0),
      count(row.prompt_tokens or 0) .. approx,
      count(row.completion_tokens or 0) .. approx,
      M.money(row.cost_usd or 0),
      count(row.errors or 0),
      count(row.cache_hits or 0),
    }
  end
  local rows = { header }
  for _, row in ipairs(report.rows or {}) do
    local key = by == "day" and row.day or row[by]
    table.insert(rows, cells(tostring(key or ""), row))
  end
  table.insert(rows, cells("total", report.total or {}))
  local widths = {}
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row) do
      widths[i] = math.max(widths[i] or 0, vim.fn.strdisplaywidth(cell))
    end
  end
  local function line(row)
    local parts = {}
    for i, cell in ipairs(row) do
      local pad = (" "):rep(widths[i] - vim.fn.strdisplaywidth(cell))
      parts[i] = i == 1 and (cell .. pad) or (pad .. cell)
    end
    return (table.concat(parts, "  "):gsub("%s+$", ""))
  end
  local rule = {}
  for i, w in ipairs(widths) do
    rule[i] = ("-"):rep(w)
  end
  local out = { "ByteBuddy usage since " .. tostring(report.since or "?"), "", line(header), table.concat(rule, "  ") }
  for i = 2, #rows - 1 do
    table.insert(out, line(rows[i]))
  end
  table.insert(out, table.concat(rule, "  "))
  table.insert(out, line(rows[#rows]))
  if report.total and report.total.estimated then
    table.insert(out, "~ includes estimated token counts (the server did not report them)")
  end
  if #(report.rows or {}) == 0 then
    table.insert(out, "(no calls recorded in this period)")
  end
  local budget = require("bytebuddy.status").current.budget
  if type(budget) == "table" and budget.message then
    table.insert(out, "")
    table.insert(out, "Budget: " .. budget.message)
  end
  table.insert(out, "")
  table.insert(out, "Periods: " .. table.concat(M.periods, ", ") .. "  ·  :ByteBuddyUsage [period] [" .. table.concat(M.groupings, "|") .. "]")
  return out
end

local function show_lines(lines)
  local name = "bytebuddy://usage"
  local bufnr = vim.fn.bufnr(name)
  if bufnr == -1 then
    bufnr = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_name(bufnr, name)
    vim.bo[bufnr].bufhidden = "hide"
    vim.bo[bufnr].filetype = "bytebuddy-usage"
    vim.keymap.set("n", "q", "<cmd>close<cr>", { buffer = bufnr, nowait = true, desc = "Close" })
  end
  vim.bo[bufnr].modifiable = true
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, lines)
  vim.bo[bufnr].modifiable = false
  local win = vim.fn.bufwinid(bufnr)
  if win == -1 then
    vim.cmd("botright " .. math.min(#lines + 1, 20) .. "split")
    vim.api.nvim_win_set_buf(0, bufnr)
  else
    vim.api.nvim_set_current_win(win)
  end
  return bufnr
end

--- Asks the server for usage since `since` grouped by `by` and shows it in a split.
---@param since string|nil  a period (today, 7d, 30d, month), a duration (24h) or a date
---@param by string|nil     model|provider|role|operation|day
---@param on_done fun(lines: string[])|nil
---@return boolean sent
function M.show(since, by, on_done)
  if by and not vim.tbl_contains(M.groupings, by) then
    vim.notify("ByteBuddy: group usage by one of " .. table.concat(M.groupings, ", "), vim.log.levels.ERROR)
    return false
  end
  local client = lsp.get_client(nil)
  if not client then
    lsp.notify_not_running()
    return false
  end
  client:request("bytebuddy/usage", { since = since or "7d", by = by or "model" }, function(err, report)
    if err or type(report) ~= "table" then
      vim.notify("ByteBuddy: cannot read usage: " .. (err and err.message or "no answer"), vim.log.levels.ERROR)
      return
    end
    local lines = M.format(report)
    show_lines(lines)
    if on_done then
      on_done(lines)
    end
  end)
  return true
end

return M
