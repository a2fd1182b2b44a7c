-- Starting bytebuddy-ls through vim.lsp.config/vim.lsp.enable, and finding its client.
local status = require("bytebuddy.status")

local M = {}

M.name = "bytebuddy"

--- $/progress tokens the plugin owns (chat streaming): token -> function(value).
---@type table<string|integer, fun(value: any)>
M.progress_listeners = {}

--- Why the server is not running, when the plugin knows (shown by :ByteBuddyStatus and health).
---@type string|nil
M.start_error = "ByteBuddy: setup() has not been called; add require('bytebuddy').setup() to your config."

local missing_notified = false

---@param exe string
---@return string
function M.missing_binary_message(exe)
  return table.concat({
    ("ByteBuddy: the language server %q was not found or is not executable, so ByteBuddy is off."):format(
      exe
    ),
    " Install it (`pipx install bytebuddy-ls`, or `pip install -e .` in a ByteBuddy LS checkout)",
    " or point the plugin at it: require('bytebuddy').setup({ cmd = { '/path/to/bytebuddy-ls' } }).",
  })
end

--- Checks that the configured command can be spawned.
---@param cmd string[]|function
---@return boolean ok
---@return string|nil message
function M.check_cmd(cmd)
  if type(cmd) ~= "table" then
    return true, nil -- a function cmd (custom transport) cannot be checked up front
  end
  local exe = cmd[1]
  if type(exe) ~= "string" or exe == "" then
    return false, "ByteBuddy: `cmd` is empty; set require('bytebuddy').setup({ cmd = { 'bytebuddy-ls' } })."
  end
  if vim.fn.executable(exe) ~= 1 then
    return false, M.missing_binary_message(exe)
  end
  return true, nil
end

---@param bufnr integer|nil
---@return vim.lsp.Client|nil
function M.get_client(bufnr)
  local clients = vim.lsp.get_clients({ name = M.name, bufnr = bufnr })
  if #clients == 0 and bufnr ~= nil then
    return nil
  end
  return clients[1]
end

local function progress_handler(err, result, ctx, config)
  local listener = result and M.progress_listeners[result.token]
  if listener then
    listener(result.value)
    return
  end
  return vim.lsp.handlers["$/progress"](err, result, ctx, config)
end

local function status_handler(_, result)
  if type(result) == "table" then
    status.set(result)
  end
end

---@param opts table merged plugin options
---@return boolean started whether the client is enabled
function M.setup(opts)
  local ok, message = M.check_cmd(opts.cmd)
  if not ok then
    M.start_error = message
    status.set({ state = "missing", message = message or "" })
    if not missing_notified then
      missing_notified = true
      vim.notify(message or "ByteBuddy: cannot start the server", vim.log.levels.ERROR)
    end
    return false
  end
  M.start_error = nil
  status.set({ state = "starting", message = "starting bytebuddy-ls" })

  local base = {
    cmd = opts.cmd,
    filetypes = opts.filetypes,
    root_markers = opts.root_markers,
    init_options = opts.init_options,
    -- Neovim 0.11 does not advertise inline completion itself; the plugin implements it.
    capabilities = vim.tbl_deep_extend("force", vim.lsp.protocol.make_client_capabilities(), {
      textDocument = { inlineCompletion = { dynamicRegistration = false } },
    }),
    handlers = {
      ["bytebuddy/status"] = status_handler,
      ["$/progress"] = progress_handler,
    },
    on_init = function(client)
      if status.current.state == "starting" then
        status.set({ state = "ready", message = "bytebuddy-ls " .. tostring(client.id) .. " ready" })
      end
    end,
    on_exit = function(code, signal)
      vim.schedule(function()
        if code ~= 0 or (signal ~= 0 and signal ~= 15) then
          local msg = ("ByteBuddy: bytebuddy-ls exited (code %d, signal %d). "
            .. "Run `bytebuddy-ls doctor` in a shell and see :LspLog."):format(code, signal)
          M.start_error = msg
          status.set({ state = "error", message = msg })
          vim.notify(msg, vim.log.levels.ERROR)
        else
          status.set({ state = "stopped", message = "bytebuddy-ls stopped" })
        end
      end)
    end,
  }
  -- The "Edit with instruction…" code action carries bytebuddy.edit {uri, range}
  -- without an instruction: ask for it here, then run the command on the server.
  vim.lsp.commands["bytebuddy.edit"] = M.edit_with_instruction
  vim.lsp.config(M.name, vim.tbl_deep_extend("force", base, opts.lsp or {}))
  vim.lsp.enable(M.name)
  return true
end

--- Sends workspace/executeCommand to the server.
---@param command string
---@param arguments table
---@param bufnr integer|nil
---@param handler fun(err: table|nil, result: any)|nil
---@return boolean sent
function M.execute(command, arguments, bufnr, handler)
  local client = M.get_client(bufnr)
  if not client then
    M.notify_not_running()
    return false
  end
  local sent = client:request("workspace/executeCommand", {
    command = command,
    arguments = arguments,
  }, function(err, result)
    if err then
      vim.notify(("ByteBuddy: %s failed: %s"):format(command, err.message or vim.inspect(err)), vim.log.levels.ERROR)
    end
    if handler then
      handler(err, result)
    end
  end, bufnr)
  return sent
end

--- Client-side handler of the bytebuddy.edit command (code action "Edit with instruction…").
---@param command lsp.Command
---@param ctx {bufnr: integer, client_id: integer}
function M.edit_with_instruction(command, ctx)
  local args = vim.deepcopy((command.arguments or {})[1] or {})
  local function run(instruction)
    if not instruction or vim.trim(instruction) == "" then
      return
    end
    args.instruction = instruction
    vim.notify("ByteBuddy: editing…", vim.log.levels.INFO)
    M.execute("bytebuddy.edit", { args }, ctx.bufnr)
  end
  if args.instruction and args.instruction ~= "" then
    run(args.instruction)
  else
    vim.ui.input({ prompt = "ByteBuddy edit: " }, run)
  end
end

function M.notify_not_running()
  local msg = M.start_error
    or "ByteBuddy: bytebuddy-ls is not attached to this buffer (see :ByteBuddyStatus and :checkhealth bytebuddy)."
  vim.notify(msg, vim.log.levels.WARN)
end

return M
