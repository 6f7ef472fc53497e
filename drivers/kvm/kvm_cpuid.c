/* CPU topology: <cpu><topology sockets dies cores threads> becomes APIC IDs
 * (packed bit fields, as real hardware and QEMU number them) and the CPUID
 * leaves 1, 4, 0xB and 0x1F each vCPU reports. */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "../../lib/util/error.h"
#include "kvm.h"

struct topo {
    uint32_t sockets, dies, cores, threads;
    uint32_t thread_bits, core_bits, die_bits;
};

static uint32_t bits_for(uint32_t n)
{
    uint32_t b = 0;
    while ((1u << b) < n)
        b++;
    return b;
}

static struct topo topo_of(const struct qv_domain *def)
{
    struct topo t = {def->cpu.sockets, def->cpu.dies, def->cpu.cores, def->cpu.threads};
    if (!t.sockets || !t.cores || !t.threads) {
        /* No <topology>: one socket with a core per vCPU. */
        t.sockets = 1;
        t.dies = 1;
        t.cores = def->max_vcpus ? def->max_vcpus : 1;
        t.threads = 1;
    }
    if (!t.dies)
        t.dies = 1;
    t.thread_bits = bits_for(t.threads);
    t.core_bits = bits_for(t.cores);
    t.die_bits = bits_for(t.dies);
    return t;
}

uint32_t kvm_cpu_apic_id(const struct qv_domain *def, uint32_t index)
{
    struct topo t = topo_of(def);
    uint32_t thread = index % t.threads;
    uint32_t core = (index / t.threads) % t.cores;
    uint32_t die = (index / (t.threads * t.cores)) % t.dies;
    uint32_t socket = index / (t.threads * t.cores * t.dies);
    return (((socket << t.die_bits | die) << t.core_bits | core) << t.thread_bits) | thread;
}

static void add(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx, uint32_t a, uint32_t b,
                uint32_t cx, uint32_t d)
{
    c->entries[c->nent++] = (struct kvm_cpuid_entry2){.function = fn,
                                                      .index = idx,
                                                      .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
                                                      .eax = a,
                                                      .ebx = b,
                                                      .ecx = cx,
                                                      .edx = d};
}

int kvm_cpuid_apply(struct kvm_vcpu *v)
{
    const struct kvm_cpuid2 *sup = v->m->sys->cpuid;
    struct topo t = topo_of(v->m->def);
    uint32_t apic = v->apic_id;
    uint32_t smt_shift = t.thread_bits;
    uint32_t core_shift = t.thread_bits + t.core_bits;
    uint32_t pkg_shift = core_shift + t.die_bits;

    g_autofree struct kvm_cpuid2 *c =
        g_malloc0(sizeof(*c) + (sup->nent + 8) * sizeof(struct kvm_cpuid_entry2));
    for (uint32_t i = 0; i < sup->nent; i++) {
        struct kvm_cpuid_entry2 e = sup->entries[i];
        if (e.function == 0xb || e.function == 0x1f)
            continue; /* rebuilt below */
        if (e.function == 0 && e.eax < 0x1f)
            e.eax = 0x1f;
        if (e.function == 1) {
            e.ebx = (e.ebx & 0xffff) | (apic << 24) | (MIN(1u << pkg_shift, 255u) << 16);
            if (pkg_shift)
                e.edx |= 1u << 28; /* HTT: more than one logical CPU per package */
        }
        if (e.function == 4 && (e.eax & 0x1f)) {
            uint32_t level = e.eax >> 5 & 7;
            uint32_t sharing = (1u << (level == 3 ? pkg_shift : smt_shift)) - 1;
            uint32_t cores = (1u << (pkg_shift - smt_shift)) - 1;
            e.eax = (e.eax & 0x3fff) | (sharing & 0xfff) << 14 | (cores & 0x3f) << 26;
        }
        c->entries[c->nent++] = e;
    }
    /* 0xB: SMT and core levels; 0x1F adds the die level. */
    add(c, 0xb, 0, smt_shift, t.threads, 1u << 8 | 0, apic);
    add(c, 0xb, 1, pkg_shift, t.threads * t.cores * t.dies, 2u << 8 | 1, apic);
    add(c, 0xb, 2, 0, 0, 2, apic);
    add(c, 0x1f, 0, smt_shift, t.threads, 1u << 8 | 0, apic);
    add(c, 0x1f, 1, core_shift, t.threads * t.cores, 2u << 8 | 1, apic);
    add(c, 0x1f, 2, pkg_shift, t.threads * t.cores * t.dies, 5u << 8 | 2, apic);
    add(c, 0x1f, 3, 0, 0, 3, apic);
    if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0)
        return qv_error_set_errno(QV_ERR_KVM, errno, "VM '%s': cannot set the CPUID of vCPU %u",
                                  kvm_machine_name(v->m), v->index);
    return 0;
}
