"""What a person sees of a study: diagrams' SVG primitives, figures, tables, dashboard notes, the HTML report."""
