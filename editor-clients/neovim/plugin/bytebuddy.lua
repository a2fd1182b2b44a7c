-- User commands; they load the plugin's modules only when used.
if vim.g.loaded_bytebuddy then
  return
end
vim.g.loaded_bytebuddy = true

local command = vim.api.nvim_create_user_command

local function ask_then(prompt, callback)
  vim.ui.input({ prompt = prompt }, function(input)
    if input and input ~= "" then
      callback(input)
    end
  end)
end

command("ByteBuddyChat", function(cmd)
  local chat = require("bytebuddy.chat")
  local bufnr = vim.api.nvim_get_current_buf()
  local opts = { source_bufnr = bufnr, reset = cmd.bang }
  if cmd.range > 0 then
    local client = require("bytebuddy.lsp").get_client(bufnr)
    local encoding = client and client.offset_encoding or "utf-16"
    opts.range = require("bytebuddy.commands").lines_range(bufnr, cmd.line1, cmd.line2, encoding, true)
  end
  if cmd.args ~= "" then
    chat.ask(cmd.args, opts)
  elseif cmd.bang and cmd.range == 0 then
    chat.reset()
    chat.open()
  else
    chat.open()
    ask_then("Ask ByteBuddy: ", function(q)
      chat.ask(q, opts)
    end)
  end
end, { nargs = "*", range = true, bang = true, desc = "ByteBuddy: chat (! starts over)" })

command("ByteBuddyEdit", function(cmd)
  local opts = { line1 = cmd.line1, line2 = cmd.line2, visual = cmd.range == 2 }
  if cmd.args ~= "" then
    require("bytebuddy.commands").edit(cmd.args, opts)
  else
    ask_then("Edit instruction: ", function(instruction)
      require("bytebuddy.commands").edit(instruction, opts)
    end)
  end
end, { nargs = "*", range = true, desc = "ByteBuddy: rewrite the lines by instruction" })

command("ByteBuddyApply", function(cmd)
  local code = nil
  if cmd.args ~= "" then
    code = vim.fn.getreg(cmd.args)
  end
  local opts = {}
  if cmd.range > 0 then
    opts.line1, opts.line2 = cmd.line1, cmd.line2
  end
  require("bytebuddy.commands").apply(code, opts)
end, { nargs = "?", range = true, desc = "ByteBuddy: apply the last chat code block (or a register)" })

command("ByteBuddyToggle", function()
  require("bytebuddy.commands").toggle()
end, { desc = "ByteBuddy: turn ghost text on/off" })

command("ByteBuddyModels", function(cmd)
  require("bytebuddy.commands").models(cmd.fargs[1], cmd.fargs[2])
end, {
  nargs = "*",
  complete = function(_, line)
    if #vim.split(line, "%s+") <= 2 then
      return { "autocomplete", "chat", "edit", "apply" }
    end
    return {}
  end,
  desc = "ByteBuddy: pick the model per role ([role] [name])",
})

command("ByteBuddyStatus", function()
  require("bytebuddy.commands").status()
end, { desc = "ByteBuddy: server and suggestion state" })

command("ByteBuddyUsage", function(cmd)
  require("bytebuddy.usage").show(cmd.fargs[1], cmd.fargs[2])
end, {
  nargs = "*",
  complete = function(_, line)
    local usage = require("bytebuddy.usage")
    return #vim.split(line, "%s+") <= 2 and usage.periods or usage.groupings
  end,
  desc = "ByteBuddy: spend and tokens ([period: today|7d|30d|month] [model|provider|role|operation|day])",
})
command("ByteBuddyContext", function(cmd)
  require("bytebuddy.context").show(cmd.args ~= "" and cmd.args or nil)
end, { nargs = "*", desc = "ByteBuddy: what the next prompt takes from other files ([question]: @workspace)" })
