package probe

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteReport prints one probe's report for a reader: the flags, the
// verdict on each resource with what was measured, the namespaces, the
// notes, and with explain the child program.
func WriteReport(w io.Writer, r *Report, explain bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "probe task %d: %s(%s)\n", r.Child.TID, r.Syscall, r.Flags)
	if r.Added != "" {
		fmt.Fprintf(&b, "  asked for %s; the clone core added %s\n", r.Asked, r.Added)
	}
	fmt.Fprintf(&b, "  minirun: pid %d, thread %d, parent %d\n", r.Minirun.PID, r.Minirun.TID, r.Minirun.PPID)
	fmt.Fprintf(&b, "  child: %s\n\n", r.Exit)

	fmt.Fprintf(&b, "%-22s%s\n", "RESOURCE", "VERDICT (and what was measured)")
	for _, res := range r.Resources {
		fmt.Fprintf(&b, "%-22s%s\n", res.Name, res.Verdict)
		fmt.Fprintf(&b, "    %s\n", res.Evidence)
		if res.Restored != "" {
			fmt.Fprintf(&b, "    put back: %s\n", res.Restored)
		}
	}

	fmt.Fprintln(&b)
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tCHILD\tMINIRUN\tVERDICT")
	for _, ns := range r.Namespaces {
		same := "same"
		if !ns.Same {
			same = "new"
		}
		if ns.ChildForChildren != 0 {
			same += fmt.Sprintf("  (for children: child %d, minirun %d)", ns.ChildForChildren, ns.MinirunForChildren)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", ns.Name, ns.Child, ns.Minirun, same)
	}
	tw.Flush()
	if r.Held {
		var differ []string
		for _, ns := range r.Namespaces {
			if ns.Proc != ns.Child {
				differ = append(differ, fmt.Sprintf("%s (%d)", ns.Name, ns.Proc))
			}
		}
		if len(differ) == 0 {
			fmt.Fprintf(&b, "(inodes from statx in the child; /proc/%d/ns said the same while it waited)\n", r.Child.TID)
		} else {
			fmt.Fprintf(&b, "(inodes from statx in the child; /proc/%d/ns differed while it waited: %s)\n", r.Child.TID, strings.Join(differ, ", "))
		}
	} else {
		fmt.Fprintln(&b, "(inodes from statx in the child)")
	}

	if len(r.Notes) > 0 {
		fmt.Fprintln(&b)
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "note: %s\n", n)
		}
	}
	if explain {
		fmt.Fprintf(&b, "\nchild program (%d steps):\n", len(r.Program))
		for _, l := range r.Program {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteComparison prints the feature table, one column per flag set, and
// under it which flags and which task each column is.
func WriteComparison(w io.Writer, c *Comparison) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 3, ' ', 0)
	head := []string{"Feature"}
	for _, col := range c.Columns {
		head = append(head, col.Label)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, f := range c.Features {
		fmt.Fprintln(tw, f.Feature+"\t"+strings.Join(f.Cells, "\t"))
	}
	tw.Flush()
	fmt.Fprintln(&b)
	for _, col := range c.Columns {
		r := col.Report
		fmt.Fprintf(&b, "%s: task %d, %s(%s)\n", col.Label, r.Child.TID, r.Syscall, r.Flags)
	}
	fmt.Fprintln(&b, "\nEvery cell was measured on a live probe task; `minirun clone --flags LIST` shows the measurements behind a column.")
	_, err := io.WriteString(w, b.String())
	return err
}
