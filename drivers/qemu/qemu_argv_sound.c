/* <sound> and the <audio> backends it plays through, as QEMU 7.2 devices
 * and -audiodev. Each sound device names its backend (<audio id=N/>, else
 * the first <audio>, else a silent one, as libvirt gives a domain without
 * <audio>). Backends: none, and file (QEMU's wav writer). The host's own
 * sound systems (alsa, oss, pulseaudio, ...) are refused: QEMU runs
 * daemonized without a sound server, and QEMU merely warns when it cannot
 * open one, so the guest would play into nothing while the definition
 * said otherwise. spice plays to the SPICE client, with <graphics
 * type='spice'>; dbus needs a display qv does not run. */
#include <string.h>

#include "../../lib/conf/xml_util.h"
#include "../../lib/util/error.h"
#include "qemu_argv.h"

/* ---- <audio> ---- */

static bool yes_no(const xmlNode *n, const char *attr, const char **out)
{
    g_autofree char *s = qemu_xml_prop(n, attr);
    *out = !s ? NULL : strcmp(s, "yes") == 0 ? "on" : strcmp(s, "no") == 0 ? "off" : "";
    return !*out || **out;
}

/* An <input> or <output> of <audio>: QEMU's in.* / out.* options. */
static int audio_direction(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *d,
                           const char *dir, GString *spec)
{
    static const char *const formats[] = {"s8", "u8", "s16", "u16", "s32", "u32", "f32", NULL};
    static const char *const known[] = {"settings", NULL};
    const char *extra = qemu_xml_other_child(d, known);
    if (extra)
        return qemu_kept_refuse(v, k, "<%s><%s> is not passed on to QEMU", d->name, extra);
    for (const xmlAttr *a = d->properties; a; a = a->next) {
        const char *name = (const char *)a->name;
        const char *onoff;
        uint64_t x;
        if (a->ns)
            return qemu_kept_refuse(v, k, "a namespaced attribute on <%s>", d->name);
        if (strcmp(name, "mixingEngine") == 0 || strcmp(name, "fixedSettings") == 0) {
            if (!yes_no(d, name, &onoff))
                return qemu_kept_refuse(v, k, "<%s %s=> takes yes or no", d->name, name);
            g_string_append_printf(spec, ",%s.%s=%s", dir,
                                   name[0] == 'm' ? "mixing-engine" : "fixed-settings", onoff);
        } else if (strcmp(name, "voices") == 0 || strcmp(name, "bufferLength") == 0) {
            if (!qemu_xml_hex(d, name, UINT32_MAX, &x))
                return qemu_kept_refuse(v, k, "<%s %s=> out of range", d->name, name);
            g_string_append_printf(spec, ",%s.%s=%" G_GUINT64_FORMAT, dir,
                                   name[0] == 'v' ? "voices" : "buffer-length", x);
        } else {
            return qemu_kept_refuse(v, k, "<%s %s=> is not passed on to QEMU for this audio type",
                                    d->name, name);
        }
    }
    const xmlNode *s = qemu_xml_child(d, "settings");
    for (const xmlAttr *a = s ? s->properties : NULL; a; a = a->next) {
        const char *name = (const char *)a->name;
        uint64_t x;
        if (!a->ns && (strcmp(name, "frequency") == 0 || strcmp(name, "channels") == 0)) {
            if (!qemu_xml_hex(s, name, UINT32_MAX, &x))
                return qemu_kept_refuse(v, k, "<settings %s=> out of range", name);
            g_string_append_printf(spec, ",%s.%s=%" G_GUINT64_FORMAT, dir, name, x);
        } else if (!a->ns && strcmp(name, "format") == 0) {
            g_autofree char *f = qemu_xml_prop(s, name);
            if (!g_strv_contains(formats, f))
                return qemu_kept_refuse(v, k, "<settings format='%s'> is not one QEMU has", f);
            g_string_append_printf(spec, ",%s.format=%s", dir, f);
        } else {
            return qemu_kept_refuse(v, k, "<settings %s=> is not passed on to QEMU", name);
        }
    }
    return 0;
}

int qemu_kept_audio(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    static const char *const known[] = {"input", "output", NULL};
    const char *extra = qemu_xml_other_child(n, known);
    if (extra)
        return qemu_kept_refuse(v, k, "<%s> is not passed on to QEMU", extra);
    g_autofree char *type = qemu_xml_prop(n, "type");
    uint64_t id = 0, period = 0;
    if (!qemu_xml_hex(n, "id", 9999, &id) || id == 0)
        return qemu_kept_refuse(v, k, "id= must be a number from 1 to 9999");
    bool file = type && strcmp(type, "file") == 0;
    bool spice = type && strcmp(type, "spice") == 0;
    if (!type || (strcmp(type, "none") != 0 && !file && !spice))
        return qemu_kept_refuse(v, k,
                                "type='%s': the qemu driver's audio backends are none, file and "
                                "spice",
                                type ? type : "");
    if (spice && !qemu_has_spice(v->def))
        return qemu_kept_refuse(v, k, "type='spice' needs <graphics type='spice'>");
    /* QEMU's wav writer would otherwise write qemu.wav wherever it runs. */
    if (file && !qemu_xml_has_prop(n, "path"))
        return qemu_kept_refuse(v, k, "type='file' needs a path=");
    GString *spec = g_string_new(NULL);
    g_string_printf(spec, "%s,id=audio%" G_GUINT64_FORMAT,
                    file    ? "wav"
                    : spice ? "spice"
                            : "none",
                    id);
    int rc = 0;
    for (const xmlAttr *a = n->properties; a && rc == 0; a = a->next) {
        const char *name = (const char *)a->name;
        if (!a->ns && (strcmp(name, "id") == 0 || strcmp(name, "type") == 0))
            continue;
        if (!a->ns && strcmp(name, "timerPeriod") == 0) {
            if (!qemu_xml_hex(n, name, UINT32_MAX, &period))
                rc = qemu_kept_refuse(v, k, "timerPeriod= out of range");
            g_string_append_printf(spec, ",timer-period=%" G_GUINT64_FORMAT, period);
        } else if (!a->ns && file && strcmp(name, "path") == 0) {
            g_autofree char *path = qemu_xml_prop(n, "path");
            g_autofree char *esc = qemu_opt_escape(path);
            if (path[0] != '/')
                rc = qemu_kept_refuse(v, k, "path= must be absolute");
            g_string_append_printf(spec, ",path=%s", esc);
        } else
            rc = qemu_kept_refuse(v, k, "attribute %s= is not passed on to QEMU", name);
    }
    const xmlNode *in = qemu_xml_child(n, "input"), *out = qemu_xml_child(n, "output");
    if (rc == 0 && in)
        rc = audio_direction(v, k, in, "in", spec);
    if (rc == 0 && out)
        rc = audio_direction(v, k, out, "out", spec);
    if (rc == 0) {
        qemu_argv_add(v, "-audiodev");
        g_ptr_array_add(v->a, g_string_free(spec, FALSE));
    } else {
        g_string_free(spec, TRUE);
    }
    return rc;
}

/* ---- <sound> ---- */

/* The id of the <audio> the device plays through: its <audio id=>, else
 * the definition's first, else 0: the silent one given once here. */
static int sound_audiodev(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                          char **out)
{
    const xmlNode *a = qemu_xml_child(n, "audio");
    uint64_t want = 0;
    if (a && (!qemu_xml_hex(a, "id", 9999, &want) || want == 0))
        return qemu_kept_refuse(v, k, "<audio id=> must be a number from 1 to 9999");
    for (guint i = 0; i < v->def->kept->len; i++) {
        const struct qv_kept *o = g_ptr_array_index(v->def->kept, i);
        if (strcmp(o->name, "audio") != 0 || strcmp(o->parent, "devices") != 0)
            continue;
        xmlDoc *doc = qv_conf_xml_read(o->xml, "kept XML");
        if (!doc)
            return qemu_kept_refuse(v, o, "its stored XML does not parse");
        uint64_t id = 0;
        bool ok = qemu_xml_hex(xmlDocGetRootElement(doc), "id", 9999, &id);
        xmlFreeDoc(doc);
        if (ok && (want == 0 || id == want)) {
            *out = g_strdup_printf("audio%" G_GUINT64_FORMAT, id);
            return 0;
        }
    }
    if (want)
        return qemu_kept_refuse(v, k, "<audio id='%" G_GUINT64_FORMAT "'> names no <audio> backend",
                                want);
    if (!v->silent_audio) {
        qemu_argv_add2(v, "-audiodev", "none,id=audio0");
        v->silent_audio = true;
    }
    *out = g_strdup("audio0");
    return 0;
}

/* The HDA codecs of an ich6/ich9 controller: libvirt's default is one
 * duplex codec. */
static int hda_codecs(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n,
                      const char *id, const char *audiodev)
{
    unsigned cad = 0;
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || c->ns || !xmlStrEqual(c->name, (const xmlChar *)"codec"))
            continue;
        g_autofree char *type = qemu_xml_prop(c, "type");
        if (!type || (strcmp(type, "duplex") != 0 && strcmp(type, "micro") != 0 &&
                      strcmp(type, "output") != 0))
            return qemu_kept_refuse(v, k,
                                    "<codec type='%s'>: QEMU's HDA codecs are duplex, "
                                    "micro, output",
                                    type ? type : "");
        if (cad == 15)
            return qemu_kept_refuse(v, k, "an HDA link takes 15 codecs at most");
        qemu_argv_add(v, "-device");
        qemu_argv_addf(v, "hda-%s,id=%s-codec%u,bus=%s.0,cad=%u,audiodev=%s", type, id, cad, id,
                       cad, audiodev);
        cad++;
    }
    if (cad == 0) {
        qemu_argv_add(v, "-device");
        qemu_argv_addf(v, "hda-duplex,id=%s-codec0,bus=%s.0,cad=0,audiodev=%s", id, id, audiodev);
    }
    return 0;
}

int qemu_kept_sound(struct qemu_argv *v, const struct qv_kept *k, const xmlNode *n)
{
    g_autofree char *model = qemu_xml_prop(n, "model");
    bool hda = model && (strcmp(model, "ich6") == 0 || strcmp(model, "ich9") == 0);
    bool usb = model && strcmp(model, "usb") == 0;
    static const char *const with_codecs[] = {"address", "alias", "audio", "codec", NULL};
    static const char *const plain[] = {"address", "alias", "audio", NULL};
    const char *extra = qemu_xml_other_child(n, hda ? with_codecs : plain);
    if (extra)
        return qemu_kept_refuse(v, k, "<%s> is not passed on to QEMU for model='%s'", extra,
                                model ? model : "");
    for (const xmlAttr *a = n->properties; a; a = a->next)
        if (a->ns || (strcmp((const char *)a->name, "model") != 0 &&
                      !(usb && strcmp((const char *)a->name, "multichannel") == 0)))
            return qemu_kept_refuse(v, k, "attribute %s= is not passed on to QEMU", a->name);
    const char *dev = !model                         ? NULL
                      : strcmp(model, "ich6") == 0   ? "intel-hda"
                      : strcmp(model, "ich9") == 0   ? "ich9-intel-hda"
                      : strcmp(model, "ac97") == 0   ? "AC97"
                      : strcmp(model, "es1370") == 0 ? "ES1370"
                      : strcmp(model, "sb16") == 0   ? "sb16"
                      : strcmp(model, "usb") == 0    ? "usb-audio"
                      : strcmp(model, "pcspk") == 0  ? "pcspk"
                                                     : NULL;
    if (!dev)
        return qemu_kept_refuse(v, k,
                                "model='%s': QEMU 7.2's sound devices are ich6, ich9, ac97, "
                                "es1370, sb16, usb, pcspk",
                                model ? model : "");
    g_autofree char *audiodev = NULL;
    int rc = sound_audiodev(v, k, n, &audiodev);
    if (rc < 0)
        return rc;
    /* Device ids by the element's place among the kept ones: unique, and
     * the same at every start. */
    guint index = 0;
    while (index < v->def->kept->len && g_ptr_array_index(v->def->kept, index) != k)
        index++;
    g_autofree char *id = g_strdup_printf("sound%u", index);
    bool isa = strcmp(model, "sb16") == 0 || strcmp(model, "pcspk") == 0;
    if ((isa || usb) && qemu_xml_child(n, "address") &&
        !(usb && qemu_xml_prop_is(qemu_xml_child(n, "address"), "type", "usb")))
        return qemu_kept_refuse(v, k, "model='%s' takes no PCI <address>", model);
    if (strcmp(model, "pcspk") == 0) {
        /* The PC speaker is the board's; -machine options add up. */
        qemu_argv_add(v, "-machine");
        qemu_argv_addf(v, "pcspk-audiodev=%s", audiodev);
        return 0;
    }
    if (usb) {
        const xmlNode *a = qemu_xml_child(n, "address");
        uint64_t port = 0;
        if (!qemu_has_usb_bus(v->def))
            return qemu_kept_refuse(v, k,
                                    "model='usb' needs a <controller type='usb'> other "
                                    "than model='none'");
        if (a &&
            !(qemu_xml_prop_is(a, "bus", "0") && qemu_xml_hex(a, "port", 15, &port) && port > 0))
            return qemu_kept_refuse(v, k, "a USB <address> must be bus='0' with port= 1-15");
        g_autofree char *multi = qemu_xml_prop(n, "multichannel");
        if (multi && strcmp(multi, "yes") != 0 && strcmp(multi, "no") != 0)
            return qemu_kept_refuse(v, k, "multichannel= takes yes or no");
        GString *s = g_string_new(NULL);
        g_string_printf(s, "usb-audio,id=%s,audiodev=%s,bus=usb.0", id, audiodev);
        if (port)
            g_string_append_printf(s, ",port=%" G_GUINT64_FORMAT, port);
        if (multi && strcmp(multi, "yes") == 0)
            g_string_append(s, ",multi=on");
        qemu_argv_add(v, "-device");
        g_ptr_array_add(v->a, g_string_free(s, FALSE));
        return 0;
    }
    if (isa) {
        qemu_argv_add(v, "-device");
        qemu_argv_addf(v, "sb16,id=%s,audiodev=%s", id, audiodev);
        return 0;
    }
    g_autofree char *spec = hda ? g_strdup_printf("%s,id=%s", dev, id)
                                : g_strdup_printf("%s,id=%s,audiodev=%s", dev, id, audiodev);
    if ((rc = qemu_kept_add_placed(v, k, n, spec)) < 0)
        return rc;
    return hda ? hda_codecs(v, k, n, id, audiodev) : 0;
}
