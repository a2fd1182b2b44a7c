-- :checkhealth bytebuddy
local M = {}

local function check_config(exe, init_options)
  local args = { exe, "check-config" }
  local tmp
  if type(init_options) == "table" and type(init_options.config) == "table" then
    -- JSON is YAML: the inline config can be checked by the server's own validator.
    tmp = vim.fn.tempname() .. ".yaml"
    vim.fn.writefile({ vim.json.encode(init_options.config) }, tmp)
    table.insert(args, tmp)
  elseif type(init_options) == "table" and type(init_options.configPath) == "string" then
    table.insert(args, vim.fn.expand(init_options.configPath))
  end
  local ok, proc = pcall(vim.system, args, { text = true })
  if not ok then
    vim.health.error("could not run " .. table.concat(args, " ") .. ": " .. tostring(proc))
    return
  end
  local result = proc:wait(15000)
  if tmp then
    os.remove(tmp)
  end
  local output = vim.trim((result.stdout or "") .. "\n" .. (result.stderr or ""))
  if result.code == 0 then
    vim.health.ok("config is valid:\n" .. output)
  else
    vim.health.error(
      ("`%s` failed (exit %s):\n%s"):format(table.concat(args, " ", 1, 2), tostring(result.code), output),
      { "Fix the config file shown above, or pass init_options = { configPath = '...' } to setup()." }
    )
  end
end

--- Each configured Inference Endpoint's state, asked from the server.
---@param client vim.lsp.Client
function M.check_endpoints(client)
  local response = client:request_sync("bytebuddy/models", vim.empty_dict(), 5000)
  local models = response and response.result or {}
  local rows = vim.tbl_filter(function(m)
    return type(m.endpoint) == "table"
  end, models)
  if #rows == 0 then
    return
  end
  vim.health.start("bytebuddy: Inference Endpoints")
  for _, m in ipairs(rows) do
    local e = m.endpoint
    local line = ("%s: endpoint %s%s is %s"):format(
      m.name,
      e.namespace and (e.namespace .. "/") or "",
      e.name,
      e.state
    )
    if e.state == "running" or e.state == "scaledToZero" then
      vim.health.ok(line .. (e.state == "scaledToZero" and " (the next request wakes it)" or ""))
    elseif e.state == "paused" then
      vim.health.warn(line, { ":ByteBuddyEndpoint resume " .. m.name .. " (it bills while running)" })
    elseif e.state == "failed" or e.state == "updateFailed" or e.state == "error" then
      vim.health.error(line .. (e.message and (": " .. e.message) or ""), {
        "See the endpoint on huggingface.co, or run `bytebuddy-ls endpoint status " .. e.name .. "`",
      })
    else
      vim.health.info(line)
    end
  end
end

function M.check()
  vim.health.start("bytebuddy: Neovim")
  if vim.fn.has("nvim-0.11") == 1 then
    vim.health.ok("Neovim " .. tostring(vim.version()))
  else
    vim.health.error("Neovim >= 0.11 is required", { "Upgrade Neovim" })
  end
  if vim.lsp.inline_completion then
    vim.health.info("vim.lsp.inline_completion is available (setup{ native_inline_completion = true } uses it)")
  else
    vim.health.info("ghost text is drawn by the plugin (no vim.lsp.inline_completion in this Neovim)")
  end

  local bytebuddy = require("bytebuddy")
  local options = require("bytebuddy.config").options
  vim.health.start("bytebuddy: setup")
  if bytebuddy.did_setup then
    vim.health.ok("require('bytebuddy').setup() was called")
  else
    vim.health.warn("setup() has not been called", { "Add require('bytebuddy').setup() to your init.lua" })
  end

  vim.health.start("bytebuddy: server")
  local cmd = options.cmd
  if type(cmd) ~= "table" then
    vim.health.info("cmd is a function; skipping the binary checks")
  else
    local exe = cmd[1]
    local path = exe and vim.fn.exepath(exe) or ""
    if path == "" then
      vim.health.error(require("bytebuddy.lsp").missing_binary_message(tostring(exe)))
    else
      vim.health.ok("server binary: " .. path)
      check_config(path, options.init_options)
    end
  end

  local lsp = require("bytebuddy.lsp")
  local client = lsp.get_client(nil)
  if client then
    vim.health.ok(("client running (id %d, encoding %s)"):format(client.id, client.offset_encoding))
  else
    local advice = lsp.start_error and lsp.start_error ~= require("bytebuddy.status").current.message
        and lsp.start_error
      or "Open a file to start it; see :ByteBuddyStatus"
    vim.health.warn("no bytebuddy-ls client is running", { advice })
  end
  local s = require("bytebuddy.status").current
  local report = s.state == "error" and vim.health.error
    or ((s.state == "ready" or s.state == "busy") and vim.health.ok or vim.health.info)
  report(("last status: %s %s"):format(s.state, s.message or ""))

  if client then
    M.check_endpoints(client)
  end

  vim.health.start("bytebuddy: keys")
  for name, lhs in pairs(options.keymaps or {}) do
    if type(lhs) == "string" and lhs ~= "" then
      local map = vim.fn.maparg(lhs, "i", false, true)
      if map and map.desc and map.desc:find("^ByteBuddy: ") then
        vim.health.ok(("%s: %s"):format(name, lhs))
      elseif bytebuddy.uses_native() and name ~= "accept" then
        vim.health.info(("%s: %s (not mapped with native inline completion)"):format(name, lhs))
      else
        vim.health.warn(
          ("%s: %s is mapped by something else (%s)"):format(name, lhs, map and (map.desc or map.rhs) or "?"),
          { "Map it after setup() runs or choose another key in setup{ keymaps = {...} }" }
        )
      end
    end
  end
end

return M
