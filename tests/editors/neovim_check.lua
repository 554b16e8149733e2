-- Drives Neovim 0.7's built-in LSP client against codon-lsp: open a broken
-- file, wait for the diagnostic, fix it, save, wait for it to clear. The
-- results go to $RESULT as JSON for the Python test to judge.
local target = os.getenv("TARGET")
local result_path = os.getenv("RESULT")
local python = os.getenv("SERVER_PYTHON")
local codon = os.getenv("CODON")
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
    cmd = { python, "-m", "codon_lsp" },
    root_dir = vim.fn.fnamemodify(target, ":h"),
    init_options = { trusted = true, settings = { compiler = { path = codon } } },
  })
  vim.lsp.buf_attach_client(buffer, client_id)

  local function shown()
    return vim.diagnostic.get(buffer)
  end

  local result = { attached = client_id ~= nil }
  result.appeared = vim.wait(deadline_ms, function() return #shown() > 0 end, 50)
  local first = shown()[1]
  if first then
    result.first = {
      lnum = first.lnum,
      col = first.col,
      end_col = first.end_col,
      message = first.message,
      source = first.source,
      severity = first.severity,
    }
  end

  vim.api.nvim_buf_set_lines(buffer, 0, -1, false, { 's = "é"', "print(s + \"!\")" })
  vim.cmd("write")
  result.cleared = vim.wait(deadline_ms, function() return #shown() == 0 end, 50)

  vim.lsp.stop_client(client_id)
  vim.wait(5000, function() return vim.lsp.get_client_by_id(client_id) == nil end, 50)
  return result
end

local ok, outcome = pcall(main)
write_result(ok and outcome or { error = tostring(outcome) })
vim.cmd("qa!")
