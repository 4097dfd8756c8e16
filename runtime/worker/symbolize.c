/* symbolize.c: a task process's crash backtrace made readable.  Its
 * crash handler can only write raw addresses and a copy of its maps
 * (proto/channel.h); the nanny, out of any signal handler, places each
 * address in its file and asks libdw for the function (from .symtab, so a
 * static function is named, not its exported neighbour), the inlined
 * calls around it and the source file and line.  Here rather than in the
 * master: the nanny shares the task process's files, which the master on
 * another host may not.  Each file's debug info is read once and kept
 * (the cache below), so that repeated crashes of one program cost little.
 * Without libdw (configure --without-libdw), frames name their module and
 * offset only. */
#include "worker/worker.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifdef KEEL_HAVE_LIBDW
#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <unistd.h>
#endif

#define MAX_FRAMES 64

/* One line of the task process's maps. */
typedef struct map {
  uintptr_t start, end, off; /* off: the file offset mapped at start */
  unsigned long ino;
  const char *path; /* into the maps text, NUL-ended; "" if anonymous */
} map;

typedef struct frame {
  uintptr_t addr;
  bool exact; /* the faulting pc, not a return address */
} frame;

static const char *base_name(const char *path)
{
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

/* The maps text, cut in place into lines; how many were kept (file-backed
 * ones only: anonymous memory has nothing to name). */
static size_t parse_maps(char *text, map *m, size_t cap)
{
  size_t n = 0;
  for (char *line = text, *next; line && *line && n < cap; line = next) {
    next = strchr(line, '\n');
    if (next)
      *next++ = '\0';
    unsigned long start, end, off, ino;
    int at = 0;
    if (sscanf(line, "%lx-%lx %*s %lx %*s %lu %n", &start, &end, &off, &ino,
               &at) < 4 || !at || line[at] != '/')
      continue;
    m[n++] = (map){start, end, off, ino, line + at};
  }
  return n;
}

static const map *map_of(const map *m, size_t n, uintptr_t a)
{
  for (size_t i = 0; i < n; i++)
    if (a >= m[i].start && a < m[i].end)
      return &m[i];
  return NULL;
}

#ifdef KEEL_HAVE_LIBDW
/* ---- the cache: one Dwfl per file, its module at the file's own
 * addresses (ASLR moves each task process; the file stays) ---- */

#define MAX_FILES 32

#define MAX_SEEN 128 /* frames kept per file, already put in words */

typedef struct sym_file {
  char *path;
  struct stat st;   /* when it was read: a rebuilt file is read again */
  Dwfl *dwfl;
  Dwfl_Module *mod; /* NULL: not an ELF file libdw can read */
  bool own_dwarf;   /* the file itself has debug info (built with -g) */
  /* Addresses already symbolized and their lines: the frames under the
   * task (the task process's loop, main, libc's start) are the same in
   * every crash, and a symbol lookup is a linear search of .symtab. */
  struct {
    GElf_Addr a;
    bool back; /* a return address, looked up one byte back */
    char *text;
  } seen[MAX_SEEN];
  size_t nseen;
} sym_file;

/* Only the nanny's loop thread symbolizes: no lock. */
static struct {
  sym_file f[MAX_FILES];
  size_t n, next_out; /* next_out: the entry to drop when full */
} cache;

/* Separate debug info where the distribution puts it, by build id
 * (/usr/lib/debug/.build-id), and nowhere else: the standard callback
 * may ask a debuginfod server over the network, which a crash report
 * must not wait for. */
static int find_local_debuginfo(Dwfl_Module *mod, void **user,
                                const char *name, Dwarf_Addr base,
                                const char *file, const char *link,
                                GElf_Word crc, char **path)
{
  const unsigned char *id;
  GElf_Addr va;
  int len = dwfl_module_build_id(mod, &id, &va);
  if (len < 2)
    return -1;
  char p[64 + 2 * 64];
  int k = snprintf(p, sizeof p, "/usr/lib/debug/.build-id/%02x/", id[0]);
  for (int i = 1; i < len && k < (int)sizeof p - 8; i++)
    k += snprintf(p + k, sizeof p - (size_t)k, "%02x", id[i]);
  snprintf(p + k, sizeof p - (size_t)k, ".debug");
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  if (fd >= 0)
    *path = strdup(p);
  return fd;
}

static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = find_local_debuginfo,
    .section_address = dwfl_offline_section_address,
};

static void file_drop(sym_file *f)
{
  for (size_t i = 0; i < f->nseen; i++)
    free(f->seen[i].text);
  if (f->dwfl)
    dwfl_end(f->dwfl);
  free(f->path);
  memset(f, 0, sizeof *f);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
         a->st_size == b->st_size &&
         a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
         a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Whether the module's own file has DWARF, as a program or library built
 * with -g does.  Lines are looked up only there: the debug info that
 * distributions ship apart (libc6-dbg, dbgsym packages) is compressed,
 * and reading libc's took 60 ms, at every nanny's first crash.  Its
 * .symtab, which names static functions, is cheap and still used. */
static bool has_own_dwarf(Dwfl_Module *mod)
{
  GElf_Addr bias;
  Elf *e = dwfl_module_getelf(mod, &bias);
  size_t strndx;
  if (!e || elf_getshdrstrndx(e, &strndx))
    return false;
  for (Elf_Scn *scn = elf_nextscn(e, NULL); scn; scn = elf_nextscn(e, scn)) {
    GElf_Shdr sh;
    const char *name = gelf_getshdr(scn, &sh)
                           ? elf_strptr(e, strndx, sh.sh_name) : NULL;
    if (name && (!strcmp(name, ".debug_info") ||
                 !strcmp(name, ".zdebug_info")))
      return true;
  }
  return false;
}

/* The cache entry of path as it is now, read once; NULL if it cannot be
 * read. */
static sym_file *file_of(const char *path, const struct stat *st)
{
  sym_file *f = NULL;
  for (size_t i = 0; i < cache.n && !f; i++)
    if (!strcmp(cache.f[i].path, path))
      f = &cache.f[i];
  if (f && same_file(&f->st, st))
    return f->mod ? f : NULL;
  if (!f && cache.n < MAX_FILES)
    f = &cache.f[cache.n++];
  if (!f) {
    f = &cache.f[cache.next_out];
    cache.next_out = (cache.next_out + 1) % MAX_FILES;
  }
  file_drop(f);
  f->path = strdup(path);
  f->st = *st;
  f->dwfl = dwfl_begin(&callbacks);
  if (!f->path || !f->dwfl) {
    file_drop(f);
    return NULL;
  }
  /* at the file's own addresses: base 0 plus its p_vaddr */
  f->mod = dwfl_report_elf(f->dwfl, base_name(path), path, -1, 0, true);
  dwfl_report_end(f->dwfl, NULL, NULL);
  f->own_dwarf = f->mod && has_own_dwarf(f->mod);
  return f->mod ? f : NULL;
}

/* The cache entry of m's file, if it is still the file that was mapped
 * (same inode; not replaced since).  A regular file only: the maps come
 * from the task process, which could write anything on its crash pipe,
 * and opening a FIFO named there would block the nanny. */
static sym_file *map_file(const map *m)
{
  struct stat st;
  if (stat(m->path, &st) != 0 || !S_ISREG(st.st_mode) ||
      (unsigned long)st.st_ino != m->ino)
    return NULL;
  return file_of(m->path, &st);
}

/* File offset -> the module's address, through the segment that maps it. */
static bool module_addr(Dwfl_Module *mod, uintptr_t fileoff, GElf_Addr *a)
{
  GElf_Addr bias;
  Elf *e = dwfl_module_getelf(mod, &bias);
  size_t n;
  if (!e || elf_getphdrnum(e, &n))
    return false;
  for (size_t i = 0; i < n; i++) {
    GElf_Phdr ph;
    if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_LOAD &&
        fileoff >= ph.p_offset && fileoff < ph.p_offset + ph.p_filesz) {
      *a = ph.p_vaddr + (fileoff - ph.p_offset) + bias;
      return true;
    }
  }
  return false;
}

static unsigned long die_udata(Dwarf_Die *die, int name)
{
  Dwarf_Attribute at;
  Dwarf_Word v = 0;
  if (!dwarf_attr(die, name, &at) || dwarf_formudata(&at, &v))
    return 0;
  return (unsigned long)v;
}

/* "name (file:line)", the file without its directory, and without the
 * symbol's version (__libc_start_main@@GLIBC_2.34). */
static void put_line(keel_buf *b, const char *name, const char *src,
                     int line, const char *note)
{
  const char *at = name ? strchr(name, '@') : NULL;
  int len = at && at > name ? (int)(at - name) : name ? (int)strlen(name) : 2;
  keel_buf_printf(b, "%.*s (%s:%d)%s\n", len, name ? name : "??",
                  base_name(src), line, note);
}

/* a's functions and lines, innermost first: the functions inlined there
 * (from the DWARF scopes), then the function the symbol table names.
 * False if the module has no line for a. */
static bool put_source(keel_buf *b, Dwfl_Module *mod, GElf_Addr a,
                       const char *sym)
{
  int line = 0;
  Dwfl_Line *l = dwfl_module_getsrc(mod, a);
  const char *src = l ? dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL)
                      : NULL;
  if (!src)
    return false;
  Dwarf_Addr bias;
  Dwarf_Die *cu = dwfl_module_addrdie(mod, a, &bias), *scopes = NULL;
  Dwarf_Files *files = NULL;
  size_t nfiles = 0;
  int n = cu ? dwarf_getscopes(cu, a - bias, &scopes) : 0;
  if (cu && dwarf_getsrcfiles(cu, &files, &nfiles))
    files = NULL;
  for (int i = 0; i < n; i++) {
    int tag = dwarf_tag(&scopes[i]);
    if (tag == DW_TAG_subprogram)
      break;
    if (tag != DW_TAG_inlined_subroutine)
      continue;
    put_line(b, dwarf_diename(&scopes[i]), src, line, " inlined");
    /* the caller's line: where this one was inlined */
    unsigned long fi = die_udata(&scopes[i], DW_AT_call_file);
    const char *cs = files && fi < nfiles
                         ? dwarf_filesrc(files, fi, NULL, NULL) : NULL;
    src = cs ? cs : "??";
    line = (int)die_udata(&scopes[i], DW_AT_call_line);
  }
  free(scopes);
  put_line(b, sym, src, line, "");
  return true;
}

/* a (the module's address) in words, one line a function. */
/* back: a is a return address less one, and +0xOFF shows the return
 * address itself, as backtrace_symbols() and debuggers do. */
static void put_addr(keel_buf *b, const sym_file *f, GElf_Addr a, bool back,
                     const char *module)
{
  GElf_Off off = 0;
  GElf_Sym sym;
  const char *name = dwfl_module_addrinfo(f->mod, a, &off, &sym, NULL, NULL,
                                          NULL);
  if (f->own_dwarf && put_source(b, f->mod, a, name))
    return;
  if (name)
    keel_buf_printf(b, "%.*s+0x%" PRIx64 " [%s]\n",
                    (int)strcspn(name, "@"), name, (uint64_t)off + back,
                    module);
  else
    keel_buf_printf(b, "[%s+0x%" PRIx64 "]\n", module, (uint64_t)a + back);
}

/* One frame through libdw, from f's cache if it was seen before; false
 * when libdw cannot place it. */
static bool put_symbolized(keel_buf *b, const map *m, uintptr_t a,
                           bool back)
{
  sym_file *f = map_file(m);
  GElf_Addr ma;
  if (!f || !module_addr(f->mod, a - m->start + m->off, &ma))
    return false;
  for (size_t i = 0; i < f->nseen; i++)
    if (f->seen[i].a == ma && f->seen[i].back == back) {
      keel_buf_printf(b, "%s", f->seen[i].text);
      return true;
    }
  size_t from = b->len;
  put_addr(b, f, ma, back, base_name(m->path));
  char *text = strndup(b->data + from, b->len - from);
  if (text) {
    /* full: one out, by address, as good as any */
    size_t i = f->nseen < MAX_SEEN ? f->nseen++ : (size_t)(ma % MAX_SEEN);
    free(f->seen[i].text); /* NULL unless it was full */
    f->seen[i].a = ma;
    f->seen[i].back = back;
    f->seen[i].text = text;
  }
  return true;
}
#endif /* KEEL_HAVE_LIBDW */

/* One frame, unnumbered, one line a function (several where calls were
 * inlined). */
static void put_frame(keel_buf *b, const map *m, size_t nm, const frame *f)
{
  /* A return address is the instruction after the call: look up the
   * call itself, or the line would be the next one, or another function. */
  bool back = !f->exact && f->addr;
  uintptr_t a = f->addr - back;
  const map *in = map_of(m, nm, a);
  if (!in) {
    keel_buf_printf(b, "0x%" PRIxPTR "\n", f->addr);
    return;
  }
#ifdef KEEL_HAVE_LIBDW
  if (put_symbolized(b, in, a, back))
    return;
#endif
  keel_buf_printf(b, "[%s+0x%" PRIxPTR "]\n", base_name(in->path),
                  a - in->start + in->off + back);
}

/* The lines of text into b, numbered "#k  " from *k on. */
static void put_numbered(keel_buf *b, int *k, const char *text)
{
  for (const char *l = text, *e; *l; l = e + 1) {
    e = strchr(l, '\n');
    keel__assert(e); /* every line put_frame writes ends */
    keel_buf_printf(b, "#%-2d %.*s\n", (*k)++, (int)(e - l), l);
  }
}

/* Parse "@pc"/"@ra" lines into f; other lines before "@maps" go to b. */
static size_t take_lines(char *text, char **maps, frame *f, keel_buf *b)
{
  size_t n = 0, pc = strlen(KEEL__CRASH_PC), ra = strlen(KEEL__CRASH_RA);
  *maps = NULL;
  for (char *line = text, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next)
      *next++ = '\0';
    bool is_pc = !strncmp(line, KEEL__CRASH_PC, pc);
    if (is_pc || !strncmp(line, KEEL__CRASH_RA, ra)) {
      if (n < MAX_FRAMES)
        f[n++] = (frame){(uintptr_t)strtoull(line + pc, NULL, 16), is_pc};
    } else if (!strncmp(line, KEEL__CRASH_MAPS,
                        strlen(KEEL__CRASH_MAPS) - 1)) {
      *maps = next;
      break;
    } else {
      keel_buf_printf(b, "%s\n", line);
    }
  }
  return n;
}

char *keel__symbolize(const char *raw, size_t len)
{
  _Static_assert(sizeof KEEL__CRASH_PC == sizeof KEEL__CRASH_RA,
                "take_lines reads both tags with one length");
  char *text = malloc(len + 1);
  keel_buf b = {0};
  frame f[MAX_FRAMES];
  map *m = NULL;
  size_t nm = 0;
  if (!text)
    return NULL;
  memcpy(text, raw, len);
  text[len] = '\0';
  char *maps;
  size_t nf = take_lines(text, &maps, f, &b);
  if (maps && (m = malloc(4096 * sizeof *m)))
    nm = parse_maps(maps, m, 4096);
  keel_buf one = {0};
  int k = 0;
  for (size_t i = 0; i < nf; i++) {
    keel__buf_reset(&one);
    put_frame(&one, m, nm, &f[i]);
    if (keel_buf_append(&one, "", 1) == KEEL_OK)
      put_numbered(&b, &k, one.data);
  }
  keel__buf_free(&one);
  free(m);
  free(text);
  keel_buf_append(&b, "", 1);
  return b.data; /* NULL if even that failed: no backtrace */
}
