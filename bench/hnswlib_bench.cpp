// hnswlib_bench.cpp - measures Debian's libhnswlib-dev on the same .fvecs /
// ground truth as `ragd index-bench`, printing the same line format.  Built
// by bench/index.sh with g++ -O3 -march=native; not part of ragd.
//   hnswlib_bench BASE.fvecs QUERY.fvecs GT.ivecs ip|l2 M EFC THREADS EF,EF,... [INDEX]
// INDEX: load the graph from this file when it exists (no build line is
// printed), else build and save it there.  Each ef is timed REPEAT times
// (env, default 1) and the fastest pass is reported.
#include <hnswlib/hnswlib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <unordered_set>
#include <unistd.h>
#include <vector>

static std::vector<float> read_vecs(const char *path, size_t &n, int &d) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    int32_t dd;
    if (fread(&dd, 4, 1, f) != 1 || dd <= 0) { fprintf(stderr, "%s: bad file\n", path); exit(1); }
    d = dd;
    size_t rec = 4 + 4 * (size_t)d;
    n = (size_t)len / rec;
    std::vector<float> out(n * d);
    fseek(f, 0, SEEK_SET);
    std::vector<char> buf(rec);
    for (size_t i = 0; i < n; i++) {
        if (fread(buf.data(), 1, rec, f) != rec) { fprintf(stderr, "%s: short\n", path); exit(1); }
        memcpy(&out[i * d], buf.data() + 4, 4 * (size_t)d);
    }
    fclose(f);
    return out;
}

static double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static double cpu(clockid_t w) {
    timespec ts;
    clock_gettime(w, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static long rss_kib() {
    FILE *f = fopen("/proc/self/statm", "r");
    long a = 0, r = 0;
    if (f) { if (fscanf(f, "%ld %ld", &a, &r) != 2) r = 0; fclose(f); }
    return r * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(int argc, char **argv) {
    if (argc < 9) {
        fprintf(stderr, "usage: hnswlib_bench BASE QUERY GT ip|l2 M EFC THREADS EFLIST\n");
        return 2;
    }
    size_t nb, nq, ng;
    int d, dq, gk;
    std::vector<float> base = read_vecs(argv[1], nb, d);
    std::vector<float> q = read_vecs(argv[2], nq, dq);
    std::vector<float> gtf = read_vecs(argv[3], ng, gk);  // int32 payload, reinterpreted below
    const int32_t *gt = reinterpret_cast<const int32_t *>(gtf.data());
    bool ip = !strcmp(argv[4], "ip");
    int M = atoi(argv[5]), efc = atoi(argv[6]), nt = atoi(argv[7]);
    int k = 10;
    hnswlib::SpaceInterface<float> *space;
    if (ip) space = new hnswlib::InnerProductSpace(d);
    else space = new hnswlib::L2Space(d);
    long rss0 = rss_kib();
    const char *ipath = argc > 9 ? argv[9] : NULL;
    hnswlib::HierarchicalNSW<float> *h;
    if (ipath && access(ipath, R_OK) == 0) {
        h = new hnswlib::HierarchicalNSW<float>(space, std::string(ipath), false, nb);
        printf("hnswlib loaded %s\n", ipath);
    } else {
        double t0 = now(), c0 = cpu(CLOCK_PROCESS_CPUTIME_ID);
        h = new hnswlib::HierarchicalNSW<float>(space, nb, M, efc, 100);
        h->addPoint(base.data(), 0);
        std::atomic<size_t> next(1);
        std::vector<std::thread> th;
        for (int t = 0; t < nt; t++)
            th.emplace_back([&] {
                for (;;) {
                    size_t i = next.fetch_add(1);
                    if (i >= nb) break;
                    h->addPoint(&base[i * d], i);
                }
            });
        for (auto &t : th) t.join();
        double tb = now() - t0;
        printf("hnswlib build: %.2f s (%.0f vectors/s, cpu %.1f s)\n", tb, nb / tb,
               cpu(CLOCK_PROCESS_CPUTIME_ID) - c0);
        printf("hnswlib memory: rss +%.1f MiB\n", (rss_kib() - rss0) / 1024.0);
        if (ipath) h->saveIndex(ipath);
    }
    int repeat = getenv("REPEAT") ? atoi(getenv("REPEAT")) : 1;
    if (repeat < 1) repeat = 1;
    std::string efs = argv[8];
    size_t pos = 0;
    while (pos < efs.size()) {
        size_t c = efs.find(',', pos);
        if (c == std::string::npos) c = efs.size();
        int ef = atoi(efs.substr(pos, c - pos).c_str());
        pos = c + 1;
        h->setEf(ef);
        double dt = 1e30, dc = 1e30;
        for (int rep = 0; rep < repeat; rep++) {
            double s0 = now(), sc = cpu(CLOCK_THREAD_CPUTIME_ID);
            for (size_t i = 0; i < nq; i++) {
                auto r = h->searchKnn(&q[i * d], k);
                (void)r;
            }
            double t = now() - s0, c = cpu(CLOCK_THREAD_CPUTIME_ID) - sc;
            if (t < dt) dt = t;
            if (c < dc) dc = c;
        }
        size_t found = 0;
        for (size_t i = 0; i < nq; i++) {
            auto r = h->searchKnn(&q[i * d], k);
            std::unordered_set<int32_t> g(gt + i * gk, gt + i * gk + k);
            while (!r.empty()) {
                if (g.count((int32_t)r.top().second)) found++;
                r.pop();
            }
        }
        printf("hnswlib ef=%d recall=%.4f qps=%.0f cpu_qps=%.0f\n", ef,
               (double)found / (nq * (double)k), nq / dt, nq / dc);
        fflush(stdout);
    }
    delete h;
    delete space;
    return 0;
}
