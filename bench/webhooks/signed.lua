-- wrk script for bench/webhooks: every request a distinct generic webhook event of 1 KiB
-- (unique id, so each one is stored, never a duplicate), signed
-- X-Signature-256: sha256=<hex HMAC-SHA256>, over keep-alive connections. The HMAC is
-- OpenSSL's, called through LuaJIT's FFI (wrk already links libcrypto).
-- Settings come from the environment: BENCH_SECRET, BENCH_PATH, BENCH_TAG.
-- done() prints one line: "RESULT requests=N non2xx=N errors=N seconds=S p50_us=N p99_us=N".
local ffi = require("ffi")
ffi.cdef [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md,
                    unsigned int *md_len);
]]
local ok, crypto = pcall(function() local _ = ffi.C.HMAC; return ffi.C end)
if not ok then crypto = ffi.load("crypto") end

local secret = os.getenv("BENCH_SECRET") or "bench-secret"
local path = os.getenv("BENCH_PATH") or "/hooks/bench"
local tag = os.getenv("BENCH_TAG") or tostring(os.time())
local md = ffi.new("unsigned char[32]")
local mdlen = ffi.new("unsigned int[1]")

local function hmac_hex(body)
    crypto.HMAC(crypto.EVP_sha256(), secret, #secret, body, #body, md, mdlen)
    local out = {}
    for i = 0, 31 do out[#out + 1] = string.format("%02x", md[i]) end
    return table.concat(out)
end

local threads, next_id = {}, 1
function setup(thread)
    thread:set("tid", next_id)
    next_id = next_id + 1
    table.insert(threads, thread)
end

local counter = 0
function request()
    counter = counter + 1
    local id = string.format("%s-%d-%d", tag, tid, counter)
    local head = '{"id":"' .. id .. '","author":{"name":"Bench Client"},"text":"'
    local tail = '"}'
    local body = head .. string.rep("x", 1024 - #head - #tail) .. tail
    return wrk.format("POST", path, {
        ["Content-Type"] = "application/json",
        ["X-Signature-256"] = "sha256=" .. hmac_hex(body),
    }, body)
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "RESULT requests=%d non2xx=%d errors=%d seconds=%.3f p50_us=%d p99_us=%d\n",
        summary.requests, e.status, e.connect + e.read + e.write + e.timeout,
        summary.duration / 1e6, latency:percentile(50), latency:percentile(99)))
end
