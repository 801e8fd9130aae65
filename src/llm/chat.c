/* chat.c - chat templates of the common model families.
 *
 * GGUF files carry a Jinja template (tokenizer.chat_template); ragd does
 * not run Jinja: it recognises the family by the template's marker tokens
 * and renders that family's format natively (as llama.cpp's
 * llm_chat_apply_template does).  Rendered text holds special tokens as
 * text; the BOS token is left to the tokenizer. */
#include <string.h>

#include "llm/llm.h"

static const char *names[] = {"chatml", "llama2", "llama3", "mistral", "phi3", "gemma"};

const char *rg_llm_chat_name(rg_llm_chat_family f) {
    return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : "chatml";
}

int rg_llm_chat_parse(const char *name) {
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i])) return (int)i;
    return -1;
}

rg_llm_chat_family rg_llm_chat_detect(const char *t, bool *known) {
    bool k = true;
    rg_llm_chat_family f = RG_LLM_CHAT_CHATML;
    if (!t) k = false;
    else if (strstr(t, "<|im_start|>")) f = RG_LLM_CHAT_CHATML;
    else if (strstr(t, "<|start_header_id|>") && strstr(t, "<|eot_id|>")) f = RG_LLM_CHAT_LLAMA3;
    else if (strstr(t, "<start_of_turn>")) f = RG_LLM_CHAT_GEMMA;
    else if (strstr(t, "<|user|>") && strstr(t, "<|end|>")) f = RG_LLM_CHAT_PHI3;
    else if (strstr(t, "[INST]") && strstr(t, "<<SYS>>")) f = RG_LLM_CHAT_LLAMA2;
    else if (strstr(t, "[INST]")) f = RG_LLM_CHAT_MISTRAL;
    else k = false;
    if (known) *known = k;
    return f;
}

const char *rg_llm_chat_stop(rg_llm_chat_family f) {
    switch (f) {
    case RG_LLM_CHAT_LLAMA3: return "<|eot_id|>";
    case RG_LLM_CHAT_PHI3: return "<|end|>";
    case RG_LLM_CHAT_GEMMA: return "<end_of_turn>";
    case RG_LLM_CHAT_LLAMA2:
    case RG_LLM_CHAT_MISTRAL: return "</s>";
    case RG_LLM_CHAT_CHATML:
    default: return "<|im_end|>";
    }
}

/* Appends s with leading/trailing whitespace removed (llama-3's and
 * gemma's templates trim message content). */
static rg_status put_trim(rg_buf *o, const char *s) {
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t' || s[n - 1] == '\r')) n--;
    return rg_buf_append(o, s, n);
}

#define TRY(x)                                                                                    \
    do {                                                                                          \
        rg_status st_ = (x);                                                                      \
        if (st_) return st_;                                                                      \
    } while (0)

static rg_status render_inst(const rg_llm_chat_msg *m, int n, bool llama2, rg_buf *o) {
    /* [INST] (<<SYS>>\nsys\n<</SYS>>\n\n)user [/INST] assistant</s>[INST] ... ;
     * Mistral has no <<SYS>> block: the system text leads the first user turn. */
    const char *sys = NULL;
    bool first_user = true;
    for (int i = 0; i < n; i++) {
        const char *r = m[i].role;
        if (!strcmp(r, "system")) {
            sys = m[i].content;
            continue;
        }
        if (!strcmp(r, "user")) {
            TRY(rg_buf_puts(o, first_user ? "[INST] " : "<s>[INST] "));
            if (sys && first_user) {
                if (llama2) TRY(rg_buf_printf(o, "<<SYS>>\n%s\n<</SYS>>\n\n", sys));
                else TRY(rg_buf_printf(o, "%s\n\n", sys));
            }
            TRY(put_trim(o, m[i].content));
            TRY(rg_buf_puts(o, " [/INST]"));
            first_user = false;
        } else {
            TRY(rg_buf_puts(o, " "));
            TRY(put_trim(o, m[i].content));
            TRY(rg_buf_puts(o, "</s>"));
        }
    }
    return RG_OK;
}

rg_status rg_llm_chat_render(rg_llm_chat_family f, const rg_llm_chat_msg *m, int n,
                             bool add_assistant, rg_buf *o) {
    switch (f) {
    case RG_LLM_CHAT_LLAMA3:
        for (int i = 0; i < n; i++) {
            TRY(rg_buf_printf(o, "<|start_header_id|>%s<|end_header_id|>\n\n", m[i].role));
            TRY(put_trim(o, m[i].content));
            TRY(rg_buf_puts(o, "<|eot_id|>"));
        }
        if (add_assistant) TRY(rg_buf_puts(o, "<|start_header_id|>assistant<|end_header_id|>\n\n"));
        return RG_OK;
    case RG_LLM_CHAT_PHI3:
        for (int i = 0; i < n; i++) TRY(rg_buf_printf(o, "<|%s|>\n%s<|end|>\n", m[i].role, m[i].content));
        if (add_assistant) TRY(rg_buf_puts(o, "<|assistant|>\n"));
        return RG_OK;
    case RG_LLM_CHAT_GEMMA: {
        /* no system role: its text leads the first user turn; assistant is "model" */
        const char *sys = NULL;
        for (int i = 0; i < n; i++) {
            if (!strcmp(m[i].role, "system")) {
                sys = m[i].content;
                continue;
            }
            int user = !strcmp(m[i].role, "user");
            TRY(rg_buf_printf(o, "<start_of_turn>%s\n", user ? "user" : "model"));
            if (sys && user) {
                TRY(put_trim(o, sys));
                TRY(rg_buf_puts(o, "\n\n"));
                sys = NULL;
            }
            TRY(put_trim(o, m[i].content));
            TRY(rg_buf_puts(o, "<end_of_turn>\n"));
        }
        if (add_assistant) TRY(rg_buf_puts(o, "<start_of_turn>model\n"));
        return RG_OK;
    }
    case RG_LLM_CHAT_LLAMA2:
    case RG_LLM_CHAT_MISTRAL:
        return render_inst(m, n, f == RG_LLM_CHAT_LLAMA2, o);
    case RG_LLM_CHAT_CHATML:
    default:
        for (int i = 0; i < n; i++)
            TRY(rg_buf_printf(o, "<|im_start|>%s\n%s<|im_end|>\n", m[i].role, m[i].content));
        if (add_assistant) TRY(rg_buf_puts(o, "<|im_start|>assistant\n"));
        return RG_OK;
    }
}
