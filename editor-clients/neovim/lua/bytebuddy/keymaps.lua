-- Insert-mode keys. Each key acts only while a suggestion is shown; otherwise it does
-- what it did before the plugin (an earlier mapping of the same key, or the key itself).
local inline = require("bytebuddy.inline")

local M = {}

-- Action name (a function of bytebuddy.inline) -> mapping description.
local actions = {
  accept = "ByteBuddy: accept suggestion",
  accept_word = "ByteBuddy: accept next word",
  accept_line = "ByteBuddy: accept next line",
  next = "ByteBuddy: next suggestion",
  prev = "ByteBuddy: previous suggestion",
  dismiss = "ByteBuddy: dismiss suggestion",
}

--- Earlier mappings of our keys, by lhs, so that the fallback keeps them working.
---@type table<string, table>
local previous = {}
--- lhs we mapped, to unmap on a second setup().
local mapped = {}

local function is_ours(map)
  return map and map.desc and map.desc:find("^ByteBuddy: ") ~= nil
end

--- What the key does when no suggestion is shown.
---@param lhs string
---@return string keys for the expr mapping
function M.fallback(lhs)
  local prev = previous[lhs]
  if not prev then
    return lhs
  end
  if prev.callback then
    if prev.expr == 1 then
      return prev.callback() or ""
    end
    -- A non-expr callback may edit the buffer, which an expr mapping may not do.
    return ("<Cmd>lua require('bytebuddy.keymaps').run_previous(%q)<CR>"):format(lhs)
  end
  local rhs = prev.rhs or ""
  if prev.expr == 1 then
    rhs = vim.api.nvim_eval(rhs)
  end
  if prev.noremap == 0 then
    -- The earlier mapping was recursive: feed its keys through the mappings again.
    vim.api.nvim_feedkeys(vim.keycode(rhs), "im", false)
    return ""
  end
  return rhs
end

---@param lhs string
function M.run_previous(lhs)
  local prev = previous[lhs]
  if prev and prev.callback then
    prev.callback()
  end
end

---@param keymaps table
function M.setup(keymaps)
  for _, lhs in ipairs(mapped) do
    pcall(vim.keymap.del, "i", lhs)
  end
  mapped = {}
  for name, desc in pairs(actions) do
    local lhs = keymaps[name]
    if type(lhs) == "string" and lhs ~= "" then
      local existing = vim.fn.maparg(lhs, "i", false, true)
      if existing and next(existing) ~= nil and not is_ours(existing) then
        previous[lhs] = existing
      end
      vim.keymap.set("i", lhs, function()
        if inline.is_visible() then
          -- <Cmd> runs after the expr is evaluated, outside the textlock.
          return ("<Cmd>lua require('bytebuddy.inline').%s()<CR>"):format(name)
        end
        return M.fallback(lhs)
      end, { expr = true, replace_keycodes = true, silent = true, desc = desc })
      table.insert(mapped, lhs)
    end
  end
  local suggest = keymaps.suggest
  if type(suggest) == "string" and suggest ~= "" then
    vim.keymap.set("i", suggest, function()
      inline.suggest()
    end, { silent = true, desc = "ByteBuddy: suggest now" })
    table.insert(mapped, suggest)
  end
end

return M
