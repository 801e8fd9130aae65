/* inject.c - prompt-injection heuristics for retrieved chunks: a scored
 * list of English and Chinese rules (PCRE2, caseless, UTF, JIT), compiled
 * once per process.  Score = 1 - prod(1 - weight) over matched rules, so
 * one strong rule or several weak ones flag a chunk. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <string.h>

#include "guard/guard.h"

typedef struct rule {
    const char *name;
    float weight;
    const char *re;
} rule;

static const rule RULES[] = {
    {"ignore_previous", 0.9f,
     "\\b(ignore|disregard|forget|skip|override|bypass)\\b[^.\\n]{0,24}?\\b(previous|prior|above|"
     "earlier|preceding|system|original|all|any|your)\\b[^.\\n]{0,24}?\\b(instructions?|prompts?|"
     "rules|directions|guidelines|directives|messages?|context)\\b"},
    {"zh_ignore", 0.9f,
     "(忽略|无视|忘记|忘掉|不要理会|不要理睬|跳过|覆盖|绕过)(掉)?(你|您)?(的)?(之前|以前|先前|上面|上述|"
     "以上|前面|所有|全部|原来|原有|原始|系统)(的)?(所有|全部|一切)?(的)?(指令|指示|提示|提示词|规则|要求|设定|"
     "命令|内容|约束)"},
    {"template_marker", 0.8f,
     "<\\|im_start\\|>\\s*system|<\\|system\\|>|\\[/?INST\\]|<</?SYS>>|<\\|start_header_id\\|>\\s*system|"
     "^\\s*#{2,}\\s*(system|instruction)s?\\s*:|^\\s*system\\s*:\\s*you\\s+are"},
    {"reveal_prompt", 0.7f,
     "\\b(reveal|print|show|repeat|output|leak|display|tell\\s+me)\\b[^.\\n]{0,30}?\\b(system\\s+"
     "prompt|hidden\\s+(instructions|prompt)|initial\\s+(instructions|prompt)|your\\s+(instructions|"
     "prompt|rules))"},
    {"zh_reveal", 0.7f,
     "(输出|显示|告诉我|泄露|打印|重复|透露)(一下)?(你的|您的)?(系统提示|系统指令|初始指令|隐藏指令|提示词|系统设定)"},
    {"jailbreak", 0.7f,
     "\\b(jailbreak|jailbroken|do\\s+anything\\s+now|developer\\s+mode|god\\s+mode|DAN\\s+mode)\\b"},
    {"zh_jailbreak", 0.7f, "(越狱|开发者模式|上帝模式|不受任何限制|没有任何限制|解除(所有|一切)?限制)"},
    {"role_play", 0.6f,
     "\\byou\\s+are\\s+(now|no\\s+longer)\\b|\\bfrom\\s+now\\s+on,?\\s+(you|act|respond)\\b|"
     "\\bpretend\\s+(to\\s+be|you\\s+are|that\\s+you)\\b|\\bact\\s+as\\s+(if|an?\\s+unrestricted|"
     "my|the\\s+system)\\b|\\brole-?play\\s+as\\b"},
    {"zh_role_play", 0.6f, "(你现在是|您现在是|从现在(开始|起)[，,]?\\s*你|假装(你是|成为|自己是)|你不再是|扮演(一个|一名|成)?)"},
    {"new_instructions", 0.5f,
     "\\b(new|updated|real|actual|additional)\\s+(instructions?|rules|system\\s+prompt|task)\\s*:"},
    {"zh_new_instructions", 0.5f, "(新的|真正的|最新的|额外的)(指令|规则|系统提示|任务)[：:]"},
    {"no_restrictions", 0.5f,
     "\\b(without|no|ignore)\\s+(any\\s+)?(restrictions|filters|limitations|censorship|safety\\s+"
     "guidelines)\\b"},
    {"exfiltrate", 0.5f,
     "\\b(send|post|upload|exfiltrate|forward)\\b[^.\\n]{0,40}?(https?://|\\bto\\s+this\\s+(url|"
     "address|email|endpoint))"},
    {"zh_exfiltrate", 0.5f, "(发送|上传|转发|提交)(到|至|给)[^。\\n]{0,20}(https?://|网址|邮箱|链接)"},
};
#define NRULES (sizeof RULES / sizeof RULES[0])

static pcre2_code *g_re[NRULES];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void compile_rules(void) {
    for (size_t k = 0; k < NRULES; k++) {
        int ec;
        PCRE2_SIZE eo;
        g_re[k] = pcre2_compile((PCRE2_SPTR)RULES[k].re, PCRE2_ZERO_TERMINATED,
                                PCRE2_UTF | PCRE2_CASELESS | PCRE2_MULTILINE | PCRE2_UCP, &ec, &eo,
                                NULL);
        if (g_re[k]) pcre2_jit_compile(g_re[k], PCRE2_JIT_COMPLETE);
    }
}

void rg_guard_injection_check(const char *text, size_t len, float threshold,
                              rg_injection_result *r) {
    pthread_once(&g_once, compile_rules);
    memset(r, 0, sizeof *r);
    if (threshold <= 0) threshold = 0.5f;
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) {
        /* fail closed: a chunk we cannot check is treated as suspicious */
        r->score = 1;
        r->flagged = 1;
        r->first = "unchecked";
        return;
    }
    float keep = 1, best = 0;
    for (size_t k = 0; k < NRULES; k++) {
        if (!g_re[k]) continue;
        /* PCRE2_NO_UTF_CHECK is not used: hostile chunks may be invalid UTF-8 */
        int rc = pcre2_match(g_re[k], (PCRE2_SPTR)text, len, 0, 0, md, NULL);
        if (rc == PCRE2_ERROR_UTF8_ERR1 || (rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21)) {
            r->score = 1;
            r->flagged = 1;
            r->first = "invalid_utf8";
            pcre2_match_data_free(md);
            return;
        }
        if (rc < 0) continue;
        keep *= 1 - RULES[k].weight;
        r->nrules++;
        if (RULES[k].weight > best) {
            best = RULES[k].weight;
            r->first = RULES[k].name;
        }
    }
    pcre2_match_data_free(md);
    r->score = 1 - keep;
    r->flagged = r->score >= threshold;
}
