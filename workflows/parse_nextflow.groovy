// Parses workflows/main.nf and workflows/nextflow.config as Groovy (compiles each to a script
// class without running it): catches syntax errors where Nextflow itself cannot run.
// Usage: groovy workflows/parse_nextflow.groovy FILE...
import org.codehaus.groovy.control.CompilerConfiguration

def failed = false
args.each { name ->
    try {
        new GroovyShell(new CompilerConfiguration()).parse(new File(name))
        println "${name}: parses as Groovy"
    } catch (Exception e) {
        println "${name}: ${e.message}"
        failed = true
    }
}
System.exit(failed ? 1 : 0)
