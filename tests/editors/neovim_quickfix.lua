-- Drives Neovim 0.7's LSP client through a CPython quick fix: open a file
-- whose import Codon cannot resolve, ask for code actions on the diagnostic,
-- resolve and apply the import fix, save, and wait for the error to clear.
-- The results go to $RESULT as JSON for the Python test to judge.
local target = os.getenv("TARGET")
local result_path = os.getenv("RESULT")
local deadline_ms = 90000

local function write_result(result)
  local handle = io.open(result_path, "w")
  handle:write(vim.fn.json_encode(result))
  handle:close()
end

-- Any Lua error is written as the result, so the test fails at once
-- instead of waiting for a Neovim stuck on an error prompt.
local function main()
  vim.cmd("edit " .. vim.fn.fnameescape(target))
  local buffer = vim.api.nvim_get_current_buf()
  local client_id = vim.lsp.start_client({
    name = "codon-lsp",
    cmd = { os.getenv("SERVER_PYTHON"), "-m", "codon_lsp" },
    root_dir = vim.fn.fnamemodify(target, ":h"),
    init_options = { trusted = true, settings = { compiler = { path = os.getenv("CODON") } } },
  })
  vim.lsp.buf_attach_client(buffer, client_id)
  local client = vim.lsp.get_client_by_id(client_id)

  local result = {}
  result.appeared = vim.wait(deadline_ms, function()
    return #vim.diagnostic.get(buffer) > 0
  end, 50)

  -- Neovim 0.7 keeps no LSP form of its diagnostics: rebuild it (ASCII file, so
  -- byte columns are UTF-16 columns too).
  local function as_lsp(item)
    return {
      range = {
        start = { line = item.lnum, character = item.col },
        ["end"] = { line = item.end_lnum or item.lnum, character = item.end_col or item.col },
      },
      message = item.message,
      severity = item.severity,
      source = item.source,
    }
  end

  local diagnostic = vim.diagnostic.get(buffer)[1]
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(buffer) },
    range = {
      start = { line = diagnostic.lnum, character = 0 },
      ["end"] = { line = diagnostic.lnum, character = 0 },
    },
    context = { diagnostics = vim.tbl_map(as_lsp, vim.diagnostic.get(buffer)) },
  }
  local answers = vim.lsp.buf_request_sync(buffer, "textDocument/codeAction", params, deadline_ms)
  local titles, chosen = {}, nil
  for _, answer in pairs(answers or {}) do
    for _, action in ipairs(answer.result or {}) do
      table.insert(titles, action.title)
      if action.title:find("from CPython", 1, true) and action.title:find("socket", 1, true) then
        chosen = action
      end
    end
  end
  result.titles = titles

  if chosen and not chosen.edit then
    local resolved = client.request_sync("codeAction/resolve", chosen, deadline_ms, buffer)
    chosen = resolved and resolved.result or chosen
  end
  result.had_edit = chosen ~= nil and chosen.edit ~= nil
  if result.had_edit then
    vim.lsp.util.apply_workspace_edit(chosen.edit, client.offset_encoding or "utf-16")
    vim.cmd("write")
    result.cleared = vim.wait(deadline_ms, function()
      return #vim.diagnostic.get(buffer) == 0
    end, 50)
  end
  result.first_line = vim.api.nvim_buf_get_lines(buffer, 0, 1, false)[1]

  vim.lsp.stop_client(client_id)
  vim.wait(5000, function() return vim.lsp.get_client_by_id(client_id) == nil end, 50)
  return result
end

local ok, outcome = pcall(main)
write_result(ok and outcome or { error = tostring(outcome) })
vim.cmd("qa!")
